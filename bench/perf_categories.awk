# Groups `perf script -F comm,tid,ip,sym,dso` samples (with kernel call chains) into the stages of a
# backup or restore: hashing, compression, checksums, kernel read/write/fsync. Used by bench/snapshot.sh:
#   perf script -F comm,tid,ip,sym,dso | awk -v mode=backup|restore -f bench/perf_categories.awk
# (zlib's and libcrypto's internal functions have no symbols in Debian's packages: they are attributed by
# library and mode.)
function flush() {
	if (!n) return
	cat = "other user code"
	top = sym[1]; d = dso[1]
	if (d ~ /kernel/ || d ~ /vmlinux/) {
		cat = "kernel: other (faults, scheduling, exit)"
		for (i = 1; i <= n; i++) {
			if (sym[i] ~ /pread64|sys_read|ksys_read/) { cat = "read (kernel copy from page cache)"; break }
			if (sym[i] ~ /sys_write|sys_pwrite|ksys_write/) { cat = "write (kernel copy, ext4/xfs)"; break }
			if (sym[i] ~ /fsync|fdatasync|syncfs/) { cat = "fsync / syncfs"; break }
			if (sym[i] ~ /__ext4_new_inode|ext4_create|ext4_mkdir/) { cat = "file creation (ext4 inode allocation)"; break }
			if (sym[i] ~ /sys_open|sys_close|sys_newfstat|sys_statx|sys_getdents|sys_rename|sys_unlink|sys_mkdir|sys_link|sys_fchmod|sys_chown|sys_utimensat|newlstat|sys_fchown|sys_fchmodat/) { cat = "other metadata syscalls (open, stat, rename, ...)"; break }
			if (sym[i] ~ /page_fault|exc_page|do_anonymous|clear_page/) { cat = "kernel: page faults (fresh buffers)"; break }
			if (sym[i] ~ /sys_munmap|sys_mmap|sys_brk|madvise/) { cat = "kernel: mmap/munmap"; break }
		}
	} else if (top ~ /sha256|SHA256/ && d ~ /mbed/) cat = "SHA-256 (mbedTLS)"
	else if (top ~ /blocks_shani/) cat = "SHA-256 (stkdr, SHA-NI)"
	else if (top ~ /blocks_portable|stkdr__sha256/) cat = "SHA-256 (stkdr, C)"
	else if (d ~ /libcrypto/ && top ~ /sha1|SHA1/) cat = "SHA-1 (OpenSSL)"
	else if (d ~ /libcrypto/ && top ~ /sha256|SHA256/) cat = "SHA-256 (OpenSSL)"
	else if (d ~ /libcrypto/) cat = "OpenSSL libcrypto (stripped: SHA-1 of pgBackRest)"
	else if (d ~ /libz\.so/ && top ~ /inflate/) cat = "inflate (zlib)"
	else if (d ~ /libz\.so/ && top ~ /crc32/) cat = "gzip CRC-32 (zlib)"
	else if (d ~ /libz\.so/) cat = (mode == "restore" ? "inflate (zlib)" : "deflate (zlib)")
	else if (d ~ /libzstd/) cat = "zstd"
	else if (top ~ /crc_hw|crc32c|crc_sw/) cat = "CRC-32C"
	else if (top ~ /page_checksum|pageChecksum|check_pages/) cat = "page checksum"
	else if (top ~ /memcpy|memmove|memset/) cat = "memcpy/memset (libc)"
	else if (d ~ /libc\.so/) cat = "libc other"
	else if (d ~ /libpq|libcjson|postgres/) cat = "libpq/cJSON"
	c[cat]++; total++
	n = 0
}
/^[^ \t]/ { flush(); next }
/^[ \t]*$/ { flush(); next }
{
	# stack line: ip sym+off (dso)
	line = $0
	s = $2; sub(/\+0x[0-9a-f]+$/, "", s)
	dd = line; sub(/.*\(/, "", dd); sub(/\).*/, "", dd)
	n++; sym[n] = s; dso[n] = dd
}
END {
	flush()
	for (k in c) printf "%6.1f%%  %s\n", 100 * c[k] / total, k
	printf "%6d samples (%.1f CPU-seconds at 999 Hz)\n", total, total / 999 > "/dev/stderr"
}
