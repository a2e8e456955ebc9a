#!/usr/bin/env bash
# Snapshot / restore benchmark: stk vs pgBackRest vs pg_basebackup on a throwaway pgbench cluster.
#
#   sudo bench/snapshot.sh            # as root; see docs/performance.md for what it measures and why
#
# Environment (defaults in brackets):
#   SCALE [50]        pgbench scale (50 ≈ 810 MB data directory)
#   LEVEL [3]         gzip level for every tool (stk snapshot.level, pgbackrest --compress-level, pg_basebackup -Z)
#   ZSTD_LEVEL [3]    zstd level of the zstd round (stk vs pgbackrest --compress-type=zst); ZSTD=0 skips it
#   PARALLEL [2]      stk snapshot.parallel / pgbackrest --process-max (pg_basebackup has no such option)
#   RUNS [3]          repetitions of every measurement; the median is reported
#   KEEP_WORK         set: keep the throwaway directory (the server is stopped anyway)
#   PROFILE [1]       1: component micro-benchmark (bench/components.c) and perf profiles (bench/perf_categories.awk)
#                     of stk and pgBackRest full backups and restores, and of an stk 1% incremental
#   REBUILD [0]       1: run ninja even if $BUILD/examples/stk exists
#   BUILD [build-bench] the (release) build directory whose stk is measured; made if missing
#   PEERS [1]         0: measure stk alone (no pgBackRest, no pg_basebackup): quicker, for stk-only changes
#   PGBIN [/usr/lib/postgresql/15/bin]
#   BENCH_TMP [/tmp]  where the throwaway directory /tmp/stkdr-bench-XXXXXX is made
#   QUIET_MAX [20], NOISE [0.25], RETRIES [3]: see "measuring" below (shared machines)
#
# Exits non-zero only if a tool or a step fails, never because of a slow ratio.
set -euo pipefail
export LC_ALL=C

SCALE=${SCALE:-50}
LEVEL=${LEVEL:-3}
ZSTD_LEVEL=${ZSTD_LEVEL:-3}
ZSTD=${ZSTD:-1}
PARALLEL=${PARALLEL:-2}
RUNS=${RUNS:-3}
PEERS=${PEERS:-1}
PROFILE=${PROFILE:-1}
REBUILD=${REBUILD:-0}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
BENCH_TMP=${BENCH_TMP:-/tmp}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac

T_BEGIN=$EPOCHREALTIME
say() { printf '%s\n' "$*" >&2; }
die() { say "bench: FAILED: $*"; [ -n "${LOG:-}" ] && [ -f "$LOG" ] && { say "--- last lines of $LOG:"; tail -n 25 "$LOG" >&2; }; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (PostgreSQL and pgBackRest run as the postgres user through runuser; pgbackrest may need apt-get)"
id postgres >/dev/null 2>&1 || die "there is no postgres user"
[ -x "$PGBIN/initdb" ] || die "PostgreSQL 15 server binaries not found in $PGBIN"
command -v jq >/dev/null || die "jq is required"

# ---------------------------------------------------------------- tools
if ! command -v pgbackrest >/dev/null; then
	say "installing pgbackrest (Debian package)..."
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends pgbackrest >/dev/null ||
		{ apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends pgbackrest >/dev/null; } ||
		die "cannot install pgbackrest"
fi
if [ ! -x "$BUILD/examples/stk" ] || [ ! -f "$BUILD/libstkdr.a" ] || [ "$REBUILD" = 1 ]; then
	say "building stk (release) in $BUILD..."
	(cd "$ROOT" && { test -d "$BUILD" || meson setup "$BUILD" --buildtype=release >/dev/null; } && ninja -C "$BUILD" examples/stk libstkdr.a >/dev/null) ||
		die "cannot build stk"
fi
BUILDTYPE=$(meson introspect "$BUILD" --buildoptions 2>/dev/null | jq -r '.[] | select(.name=="buildtype") | .value' || echo unknown)
[ "$BUILDTYPE" = release ] || say "warning: $BUILD is a '$BUILDTYPE' build, not release"

# ---------------------------------------------------------------- the throwaway directory
WORK=$(mktemp -d "$BENCH_TMP/stkdr-bench-XXXXXX")
PGDATA=$WORK/pgdata
LOG=$WORK/bench.log
SERVER_UP=0
cleanup() {
	local rc=$?
	if [ "$SERVER_UP" = 1 ]; then
		runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	if [ -n "${KEEP_WORK:-}" ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chown postgres:postgres "$WORK"
chmod 700 "$WORK"
: >"$LOG"
chown postgres "$LOG"

# A frozen copy of stk and libstkdr (rpath $ORIGIN/..), readable by postgres: others may rebuild meanwhile.
mkdir -p "$WORK/bin/examples"
cp "$BUILD/examples/stk" "$WORK/bin/examples/stk"
cp -L "$BUILD/libstkdr.so.1" "$WORK/bin/libstkdr.so.1"
chown -R postgres:postgres "$WORK/bin"
STK=$WORK/bin/examples/stk

as_pg() { runuser -u postgres -- "$@"; }

# A free loopback port.
PORT=
for p in $(shuf -i 20000-60000 -n 100); do
	if ! ss -Hltn "sport = :$p" | grep -q .; then PORT=$p; break; fi
done
[ -n "$PORT" ] || die "no free port"

# ---------------------------------------------------------------- the cluster
say "cluster: $PGDATA on 127.0.0.1:$PORT (scale $SCALE)"
as_pg "$PGBIN/initdb" --data-checksums -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C >>"$LOG" 2>&1 || die initdb
cat >>"$PGDATA/postgresql.conf" <<EOF
# ---- bench/snapshot.sh
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK'
shared_buffers = 256MB
wal_level = replica
max_wal_senders = 4
max_wal_size = 8GB
checkpoint_timeout = 30min
autovacuum = off
archive_mode = on
archive_command = '$WORK/archive-stk-or-pgbackrest.sh %p'
log_min_duration_statement = 0
log_line_prefix = '%m [%p] %a '
EOF

# archive_command: pushes each segment into the repository of the tool being measured (archive.mode:
# "stk|pgbackrest|none ALGORITHM LEVEL"), so that each tool pays for its own WAL archiving and only for it.
cat >"$WORK/archive-stk-or-pgbackrest.sh" <<EOF
#!/bin/sh
read -r tool alg lvl <"$WORK/archive.mode" || tool=none
case "\$tool" in
stk) STKDR_SNAPSHOT_COMPRESSION=\$alg STKDR_SNAPSHOT_LEVEL=\$lvl exec "$STK" --config "$WORK/stk.json" -q wal push "\$1" ;;
pgbackrest) [ "\$alg" = zstd ] && alg=zst || alg=gz
	exec pgbackrest --config-path="$WORK/pgbr-conf" --stanza=bench --compress-type=\$alg --compress-level=\$lvl archive-push "\$1" ;;
*) exit 0 ;;
esac
EOF
chmod 755 "$WORK/archive-stk-or-pgbackrest.sh"
archive_mode() { echo "$1 ${2:-gzip} ${3:-$LEVEL}" >"$WORK/archive.mode"; }
archive_mode none

cat >"$WORK/stk.json" <<EOF
{
  "deployment": "bench",
  "postgres": { "conninfo": "host=$WORK port=$PORT user=postgres dbname=postgres", "data_dir": "$PGDATA", "bin_dir": "$PGBIN" },
  "objstore": { "backend": "local", "path": "$WORK/stk-repo" },
  "secrets": { "backend": "local", "path": "$WORK/stk-secrets" },
  "dbprovider": { "backend": "local-postgres" },
  "dns": { "backend": "local", "path": "$WORK/dns.json" },
  "snapshot": { "compression": "gzip", "level": $LEVEL, "parallel": $PARALLEL },
  "log": { "level": "warn" }
}
EOF
mkdir -p "$WORK/pgbr-conf" "$WORK/pgbr-repo" "$WORK/pgbr-log" "$WORK/pgbr-lock" "$WORK/pgbr-spool"
cat >"$WORK/pgbr-conf/pgbackrest.conf" <<EOF
[global]
repo1-type=posix
repo1-path=$WORK/pgbr-repo
repo1-retention-full=999
expire-auto=n
start-fast=y
compress-type=gz
compress-level=$LEVEL
process-max=$PARALLEL
log-level-console=warn
log-level-file=off
log-path=$WORK/pgbr-log
lock-path=$WORK/pgbr-lock
spool-path=$WORK/pgbr-spool

[bench]
pg1-path=$PGDATA
pg1-port=$PORT
pg1-socket-path=$WORK
pg1-user=postgres
EOF
chown -R postgres:postgres "$WORK"

as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/pg.log" -w start >>"$LOG" 2>&1 || die "pg_ctl start"
SERVER_UP=1
PSQL=("$PGBIN/psql" -X -q -At -h "$WORK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
sql() { as_pg "${PSQL[@]}" -c "$1"; }

PGBR=(pgbackrest --config-path="$WORK/pgbr-conf" --stanza=bench)
if [ "$PEERS" = 1 ]; then as_pg "${PGBR[@]}" stanza-create >>"$LOG" 2>&1 || die "pgbackrest stanza-create"; fi

t0=$EPOCHREALTIME
as_pg "$PGBIN/pgbench" -i -q -s "$SCALE" -h "$WORK" -p "$PORT" -U postgres postgres >>"$LOG" 2>&1 || die "pgbench -i"
sql "CHECKPOINT" >/dev/null
T_LOAD=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
ROWS=$((SCALE * 100000))
DBSIZE=$(du -sb --exclude=pg_wal "$PGDATA" | cut -f1)   # what a backup must read: the data directory without WAL
DBMB=$(awk -v b="$DBSIZE" 'BEGIN { printf "%.1f", b / 1e6 }')
ACCOUNTS=$PGDATA/$(sql "SELECT pg_relation_filepath('pgbench_accounts')")
say "pgbench -i -s $SCALE: ${T_LOAD}s; data directory (without pg_wal): $DBMB MB"

# ---------------------------------------------------------------- measuring
# The machine may be shared (other jobs' test suites on the same 2 CPUs distort wall times badly). So:
#  - before each measurement, wait (up to QUIET_MAX s) until the CPUs are at least 90% idle;
#  - record, besides the wall time, the CPU time of the command (user + system of all its threads and child
#    processes), the CPU time of our PostgreSQL server meanwhile (checkpoints, archive_command, walsender), and
#    the CPU time of everything else ("foreign");
#  - a measurement during which foreign processes used more than NOISE (default 0.25) CPU per wall second is
#    noisy; every phase is made of rounds (one measurement of each tool), and a round with a noisy measurement
#    is discarded and repeated, up to RETRIES (default 3) extra rounds per phase. When the retries are used
#    up, noisy rounds are kept and marked "*" in the table.
QUIET_MAX=${QUIET_MAX:-20}
NOISE=${NOISE:-0.25}
RETRIES=${RETRIES:-3}
HZ=$(getconf CLK_TCK)
declare -A T       # key -> wall seconds of each kept run
declare -A C       # key -> CPU seconds of each kept run
declare -A N       # key -> number of kept runs that were noisy
declare -A X       # key -> extra information (bytes read/stored) of the last run
declare -A PT PC   # the current round's measurements, until it is kept
PENDING=()
ROUND_NOISY=0
NDISCARDED=0
LAST=
cpu_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
server_jiffies() { # CPU of the postmaster and its children, including the children they reaped
	local pm
	pm=$(head -n 1 "$PGDATA/postmaster.pid" 2>/dev/null) || { echo 0; return; }
	for p in $pm $(ps -o pid= --ppid "$pm"); do cat "/proc/$p/stat" 2>/dev/null || true; done |
		awk '{ sub(/.*\) /, ""); s += $12 + $13 + $14 + $15 } END { print s + 0 }'
}
wait_quiet() {
	local i b1 t1 b2 t2
	for ((i = 0; i < QUIET_MAX * 2; i++)); do
		read -r b1 t1 < <(cpu_jiffies)
		sleep 0.5
		read -r b2 t2 < <(cpu_jiffies)
		((100 * (b2 - b1) <= 10 * (t2 - t1))) && return 0
	done
	say "  (the CPUs stayed busy for ${QUIET_MAX}s: measuring anyway)"
}
timed() { # timed KEY CMD... : runs CMD as postgres after a sync; its wall and CPU time go into the round
	local key=$1
	shift
	sync
	wait_quiet
	echo "### $key: $*" >>"$LOG"
	rm -f "$WORK/times.txt"
	[ -n "${BEFORE:-}" ] && $BEFORE
	local j0 j1 s0 s1 t0 t1 cpu srv foreign noisy
	read -r j0 _ < <(cpu_jiffies)
	s0=$(server_jiffies)
	t0=$EPOCHREALTIME
	as_pg bash -c '"$@"; rc=$?; times >"$0"; exit $rc' "$WORK/times.txt" "$@" >"$WORK/out.txt" 2>>"$LOG" ||
		{ cat "$WORK/out.txt" >>"$LOG"; die "$key: $*"; }
	t1=$EPOCHREALTIME
	s1=$(server_jiffies)
	read -r j1 _ < <(cpu_jiffies)
	cat "$WORK/out.txt" >>"$LOG"
	LAST=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	# `times`, second line: user and system time of the children, as 0m1.234s 0m0.567s
	cpu=$(sed -n 2p "$WORK/times.txt" | awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.2f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }')
	srv=$(awk -v j="$((s1 - s0))" -v hz="$HZ" 'BEGIN { printf "%.2f", j / hz }')
	foreign=$(awk -v j="$((j1 - j0))" -v hz="$HZ" -v c="$cpu" -v s="$srv" 'BEGIN { o = j / hz - c - s; printf "%.2f", o < 0 ? 0 : o }')
	noisy=$(awk -v f="$foreign" -v w="$LAST" -v n="$NOISE" 'BEGIN { print (f > n * w) ? 1 : 0 }')
	[ "$noisy" = 1 ] && ROUND_NOISY=1
	PENDING+=("$key")
	PT[$key]=$LAST
	PC[$key]=$cpu
	say "  $key: ${LAST}s wall, ${cpu} CPU-s; server ${srv} CPU-s, foreign ${foreign} CPU-s$([ "$noisy" = 1 ] && echo '  NOISY')"
	echo "### $key: ${LAST}s wall, ${cpu} CPU-s, server ${srv} CPU-s, foreign ${foreign} CPU-s, noisy=$noisy" >>"$LOG"
}
round_begin() { PENDING=(); ROUND_NOISY=0; }
round_end() { # round_end FORCE: keeps the round's measurements if it was quiet or FORCE=1; returns 0 if kept
	local k
	if [ "$ROUND_NOISY" = 1 ] && [ "$1" != 1 ]; then
		NDISCARDED=$((NDISCARDED + 1))
		say "  (noisy round discarded)"
		return 1
	fi
	for k in "${PENDING[@]}"; do
		T[$k]="${T[$k]:-} ${PT[$k]}"
		C[$k]="${C[$k]:-} ${PC[$k]}"
		[ "$ROUND_NOISY" = 1 ] && N[$k]=$((${N[$k]:-0} + 1))
	done
	return 0
}
rounds() { # rounds FUNCTION: calls FUNCTION ATTEMPT until RUNS rounds are kept (or the retries are used up)
	local kept=0 attempt=0 force
	while ((kept < RUNS && attempt < RUNS + RETRIES)); do
		attempt=$((attempt + 1))
		force=$(((RUNS + RETRIES - attempt) < (RUNS - kept) ? 1 : 0))
		round_begin
		"$1" "$attempt"
		round_end "$force" && kept=$((kept + 1))
	done
}
median() { printf '%s\n' $1 | sort -g | awk 'NF { v[++n] = $1 } END { if (n == 0) print ""; else if (n % 2) print v[(n + 1) / 2]; else printf "%.3f\n", (v[n / 2] + v[n / 2 + 1]) / 2 }'; }
stk_create() { # stk_create KEY [options]: a snapshot; STK_ID, STK_READ, STK_STORED
	local key=$1
	shift
	timed "$key" env ${STK_ENV:-} "$STK" --config "$WORK/stk.json" --json snapshot create "$@"
	STK_ID=$(jq -r .id "$WORK/out.txt")
	STK_READ=$(jq -r .totals.read_bytes "$WORK/out.txt")
	STK_STORED=$(jq -r .totals.stored_bytes "$WORK/out.txt")
	STK_SKIPPED=$(jq -r '.totals.skipped_bytes // 0' "$WORK/out.txt")
	X[$key]="read $(awk -v b="$STK_READ" 'BEGIN { printf "%.1f", b / 1e6 }') MB, stored $(awk -v b="$STK_STORED" 'BEGIN { printf "%.1f", b / 1e6 }') MB$(awk -v b="$STK_SKIPPED" 'BEGIN { if (b > 0) printf ", %.1f MB by page headers", b / 1e6 }')"
}
pgbr_backup() { # pgbr_backup KEY [options]: PGBR_LABEL
	local key=$1
	shift
	timed "$key" "${PGBR[@]}" "$@" backup
	local info
	info=$(as_pg "${PGBR[@]}" --output=json info)
	PGBR_LABEL=$(jq -r '.[0].backup[-1].label' <<<"$info")
	X[$key]="stored $(jq -r '.[0].backup[-1].info.repository.delta / 1e6 * 10 | floor / 10' <<<"$info") MB (repo delta)"
}

# ---- full backups (zstd first, so that the newest full backups of both tools are gzip ones)
full_zstd_round() {
	archive_mode stk zstd "$ZSTD_LEVEL"
	STK_ENV="STKDR_SNAPSHOT_COMPRESSION=zstd STKDR_SNAPSHOT_LEVEL=$ZSTD_LEVEL" stk_create full_zstd_stk --full
	STK_ZSTD_ID=$STK_ID
	[ "$PEERS" = 1 ] || return 0
	archive_mode pgbackrest zstd "$ZSTD_LEVEL"
	pgbr_backup full_zstd_pgbr --type=full --compress-type=zst --compress-level="$ZSTD_LEVEL"
	PGBR_ZSTD_LABEL=$PGBR_LABEL
}
full_gz_round() {
	archive_mode stk
	stk_create full_gz_stk --full
	STK_FULL_ID=$STK_ID
	[ "$PEERS" = 1 ] || return 0
	archive_mode pgbackrest
	pgbr_backup full_gz_pgbr --type=full
	PGBR_FULL_LABEL=$PGBR_LABEL
	archive_mode none
	PGBB=$WORK/pgbb.$1
	timed full_gz_pgbb "$PGBIN/pg_basebackup" -h "$WORK" -p "$PORT" -U postgres -D "$PGBB" -Ft -z -Z "$LEVEL" -c fast -X stream
	X[full_gz_pgbb]="stored $(du -sb "$PGBB" | awk '{ printf "%.1f", $1 / 1e6 }') MB"
}
if [ "$ZSTD" = 1 ]; then
	say "full backups, zstd level $ZSTD_LEVEL, parallel $PARALLEL:"
	rounds full_zstd_round
fi
say "full backups, gzip level $LEVEL, parallel $PARALLEL (pg_basebackup: one compressing process):"
rounds full_gz_round

# ---- restores into new directories (the restored clusters are not started). Nothing is deleted until the
# end of the run: on a file system without a journal, ext4 skips recently deleted inodes when it allocates new
# ones (recently_deleted()), which makes creating files after a large rm -rf measurably slower.
newdir() { as_pg mkdir -m 700 "$1"; }
# In a VM whose hypervisor backs guest memory lazily (and takes back freed pages: free page reporting),
# the first write into a page of memory costs far more than the copy: 0.2 GB/s instead of 2-3 GB/s here.
# A restore writes 800 MB of new page cache, so which restore happens to touch fresh memory decides the
# result. Before each timed restore, write and drop a file of the database's size, untimed, so that every
# tool writes into memory the hypervisor has just backed.
prewarm() {
	dd if=/dev/zero of="$WORK/prewarm" bs=16M count=$((DBSIZE / 16777216 + 1)) conv=fdatasync status=none
	dd if="$WORK/prewarm" iflag=nocache count=0 status=none
	rm -f "$WORK/prewarm"
}
restore_round() {
	local r=$1 D
	local BEFORE=prewarm
	timed restore_gz_stk "$STK" --config "$WORK/stk.json" restore --snapshot "$STK_FULL_ID" --target-dir "$WORK/r.stk.gz.$r"
	if [ "$PEERS" != 1 ]; then
		[ "$ZSTD" = 1 ] && timed restore_zstd_stk "$STK" --config "$WORK/stk.json" restore --snapshot "$STK_ZSTD_ID" --target-dir "$WORK/r.stk.zstd.$r"
		return 0
	fi
	newdir "$WORK/r.pgbr.gz.$r"
	timed restore_gz_pgbr "${PGBR[@]}" --set="$PGBR_FULL_LABEL" --pg1-path="$WORK/r.pgbr.gz.$r" restore
	D=$WORK/r.pgbb.$r
	newdir "$D"
	timed restore_gz_pgbb sh -c "tar -xzf '$PGBB/base.tar.gz' -C '$D' && tar -xzf '$PGBB/pg_wal.tar.gz' -C '$D/pg_wal' && sync -f '$D'"
	if [ "$ZSTD" = 1 ]; then
		timed restore_zstd_stk "$STK" --config "$WORK/stk.json" restore --snapshot "$STK_ZSTD_ID" --target-dir "$WORK/r.stk.zstd.$r"
		newdir "$WORK/r.pgbr.zstd.$r"
		timed restore_zstd_pgbr "${PGBR[@]}" --set="$PGBR_ZSTD_LABEL" --pg1-path="$WORK/r.pgbr.zstd.$r" restore
	fi
}
say "restores:"
rounds restore_round

# ---- incremental backups. Each round: change (or not), CHECKPOINT (untimed, so that neither tool's
# backup-start checkpoint flushes the change for the other), then both tools, alternating which goes first.
incr_both() { # incr_both NAME ROUND
	local name=$1 r=$2
	sql "CHECKPOINT" >/dev/null
	if [ "$PEERS" != 1 ]; then
		archive_mode stk; stk_create "${name}_stk"
	elif [ $((r % 2)) = 1 ]; then
		archive_mode stk; stk_create "${name}_stk"
		archive_mode pgbackrest; pgbr_backup "${name}_pgbr" --type=incr
	else
		archive_mode pgbackrest; pgbr_backup "${name}_pgbr" --type=incr
		archive_mode stk; stk_create "${name}_stk"
	fi
}
incr_same_round() { incr_both incr_same "$1"; }
incr_local_round() {
	sql "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= $((ROWS / 100))" >/dev/null
	incr_both incr_local "$1"
	STK_INCR_ID=$STK_ID
	PGBR_INCR_LABEL=${PGBR_LABEL:-}
}
incr_random_round() {
	sql "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 100 = $((($1 - 1) % 100))" >/dev/null
	incr_both incr_random "$1"
}
say "incremental, unchanged database (right after the full backups):"
rounds incr_same_round
say "incremental after a localized 1% change (UPDATE pgbench_accounts ... WHERE aid <= $((ROWS / 100))):"
rounds incr_local_round
say "incremental after a random 1% change (UPDATE pgbench_accounts ... WHERE aid % 100 = round - 1):"
rounds incr_random_round
archive_mode none

# ---- restores of the last 1% localized incremental (stk: chunks from the whole chain; pgBackRest: files
# from the incremental and its full backup)
restore_incr_round() {
	local r=$1
	local BEFORE=prewarm
	timed restore_incr_stk "$STK" --config "$WORK/stk.json" restore --snapshot "$STK_INCR_ID" --target-dir "$WORK/r.stk.incr.$r"
	[ "$PEERS" = 1 ] || return 0
	newdir "$WORK/r.pgbr.incr.$r"
	timed restore_incr_pgbr "${PGBR[@]}" --set="$PGBR_INCR_LABEL" --pg1-path="$WORK/r.pgbr.incr.$r" restore
}
say "restores of the 1% localized incremental:"
rounds restore_incr_round

# Server-side duration of the backup start/stop calls (log_min_duration_statement = 0), per tool.
pg_calls() { # pg_calls APP PATTERN: median ms of the statements of application APP matching PATTERN
	awk '/^[0-9][0-9][0-9][0-9]-/ { if (e != "") print e; e = $0; next } { e = e " " $0 } END { if (e != "") print e }' "$WORK/pg.log" |
		grep -E "\\] $1 LOG:  duration: [0-9.]+ ms  (statement|execute [^:]*): .*$2" |
		sed -E 's/.*duration: ([0-9.]+) ms.*/\1/' | sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%.0f", v[int((NR + 1) / 2)]; else printf "-" }'
}

# ---------------------------------------------------------------- profile
if [ "$PROFILE" = 1 ]; then
	say "profile:"
	CFLAGS_ZSTD=
	pkg-config --exists libzstd && CFLAGS_ZSTD=-DSTKDR_HAVE_ZSTD=1
	if cc -O2 -Wall -I"$ROOT/include" -I"$ROOT/src" -DHAVE_OPENSSL $CFLAGS_ZSTD "$ROOT/bench/components.c" "$BUILD/libstkdr.a" \
		$(pkg-config --libs libcjson libpq libcurl zlib) $(pkg-config --libs libzstd 2>/dev/null) \
		-lmbedtls -lmbedx509 -lmbedcrypto -lcrypto -lpthread -ldl -o "$WORK/bin/components" >>"$LOG" 2>&1; then
		chown postgres "$WORK/bin/components"
		say "  component throughput, one thread, on the first 256 MiB of pgbench_accounts:"
		wait_quiet
		as_pg "$WORK/bin/components" --file "$ACCOUNTS" --level "$LEVEL" --zstd-level "$ZSTD_LEVEL" --mib 256 --write-dir "$WORK" >"$WORK/components.txt" 2>>"$LOG" ||
			die "bench/components"
		sed 's/^/    /' "$WORK/components.txt" >&2
	else
		say "  (could not build bench/components.c: see $LOG)"
	fi
	if command -v perf >/dev/null && perf record -q -o "$WORK/perf.test" true >/dev/null 2>&1; then
		# Samples on CPU (software clock: works without hardware counters), with kernel call chains so that
		# kernel time is attributed to the system call (pread, write, fsync) that caused it.
		prof() { # prof NAME CMD...: one run under perf; its categories go to prof.txt
			local name=$1 t0 wall
			shift
			sync
			wait_quiet
			t0=$EPOCHREALTIME
			perf record -q -F 999 -e cpu-clock -g -o "$WORK/perf.$name" -- runuser -u postgres -- "$@" >>"$LOG" 2>&1 || die "perf record $name"
			wall=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
			perf script -i "$WORK/perf.$name" -F comm,tid,ip,sym,dso 2>/dev/null |
				awk -v mode="$([[ $name == *restore* ]] && echo restore || echo backup)" -f "$ROOT/bench/perf_categories.awk" \
				2>"$WORK/prof.$name.total" | sort -rn >"$WORK/prof.$name.txt"
			echo "$name: $(sed 's/^ *//' "$WORK/prof.$name.total"), ${wall} s wall under perf" >>"$WORK/prof.txt"
			awk '$1 + 0 >= 0.5' "$WORK/prof.$name.txt" | sed 's/^/    /' >>"$WORK/prof.txt"
			rm -f "$WORK/perf.$name"
		}
		archive_mode stk
		prof stk_full_none env STKDR_SNAPSHOT_COMPRESSION=none "$STK" --config "$WORK/stk.json" snapshot create --full
		archive_mode stk
		prof stk_full "$STK" --config "$WORK/stk.json" snapshot create --full
		archive_mode pgbackrest
		prof pgbr_full "${PGBR[@]}" --type=full backup
		archive_mode none
		prewarm
		prof stk_restore "$STK" --config "$WORK/stk.json" restore --snapshot "$STK_FULL_ID" --target-dir "$WORK/r.prof.stk"
		newdir "$WORK/r.prof.pgbr"
		prewarm
		prof pgbr_restore "${PGBR[@]}" --set="$PGBR_FULL_LABEL" restore --pg1-path="$WORK/r.prof.pgbr"
		sql "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= $((ROWS / 100))" >/dev/null
		sql "CHECKPOINT" >/dev/null
		archive_mode stk
		prof stk_incr_local "$STK" --config "$WORK/stk.json" snapshot create
		archive_mode none
		sed 's/^/  /' "$WORK/prof.txt" >&2
		rm -f "$WORK/perf.test"
	else
		say "  perf is not usable here: no CPU profile (see docs/performance.md for valgrind --tool=callgrind)"
	fi
fi

# ---------------------------------------------------------------- report
row() { # row LABEL STK_KEY PGBR_KEY [PGBB_KEY]
	local s p b sc pc bc ns
	s=$(median "${T[$2]:-}")
	p=$(median "${T[$3]:-}")
	sc=$(median "${C[$2]:-}")
	pc=$(median "${C[$3]:-}")
	b=$([ -n "${4:-}" ] && median "${T[$4]:-}" || true)
	bc=$([ -n "${4:-}" ] && median "${C[$4]:-}" || true)
	ns=$((${N[$2]:-0} + ${N[$3]:-0} + ${N[${4:-none}]:-0}))
	awk -v l="$1$([ "$ns" -gt 0 ] && echo " *")" -v s="$s" -v p="$p" -v b="$b" -v sc="$sc" -v pc="$pc" -v bc="$bc" -v mb="$DBMB" 'BEGIN {
		if (p == "") { printf "| %-34s | %6.2f | %5.0f | %5.1f |      - |     - |     - |      - |      - |", l, s, mb / s, sc }
		else printf "| %-34s | %6.2f | %5.0f | %5.1f | %6.2f | %5.0f | %5.1f | %5.2fx | %5.2fx |", l, s, mb / s, sc, p, mb / p, pc, p / s, pc / sc
		if (b != "") printf " %6.2f | %5.0f | %5.1f | %5.2fx |\n", b, mb / b, bc, b / s; else printf "      - |     - |     - |      - |\n"
	}'
}
NPROC=$(nproc)
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
GIT=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo "?")$(cd "$ROOT" && [ -n "$(git status --porcelain -- src include 2>/dev/null)" ] && echo "+dirty-src" || true)
{
	echo
	echo "## stk snapshot benchmark — $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	echo "machine: $NPROC CPUs ($CPU), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM; kernel $(uname -r)"
	echo "tools: $("$STK" --version | head -1) [$BUILDTYPE build, git $GIT]$([ "$PEERS" = 1 ] && echo "; pgBackRest $(pgbackrest version | awk '{ print $2 }'); $("$PGBIN/pg_basebackup" --version)" || echo "; peers not measured (PEERS=0)")"
	echo "data: pgbench scale $SCALE, data directory without pg_wal $DBMB MB (MB = 10^6 bytes; MB/s = this size / seconds); page cache warm"
	echo "settings: gzip level $LEVEL, zstd level $ZSTD_LEVEL, parallel $PARALLEL (pg_basebackup: 1 compressing process); median of $RUNS runs"
	echo
	echo "| operation                          |  stk s |  MB/s | CPU-s | pgbr s |  MB/s | CPU-s |  speed |    CPU | pgbb s |  MB/s | CPU-s |  speed |"
	echo "| ---------------------------------- | -----: | ----: | ----: | -----: | ----: | ----: | -----: | -----: | -----: | ----: | ----: | -----: |"
	row "full backup, gzip-$LEVEL" full_gz_stk full_gz_pgbr full_gz_pgbb
	[ "$ZSTD" = 1 ] && row "full backup, zstd-$ZSTD_LEVEL" full_zstd_stk full_zstd_pgbr
	row "restore of the gzip full" restore_gz_stk restore_gz_pgbr restore_gz_pgbb
	[ "$ZSTD" = 1 ] && row "restore of the zstd full" restore_zstd_stk restore_zstd_pgbr
	row "incremental, unchanged" incr_same_stk incr_same_pgbr
	row "incremental, 1% localized update" incr_local_stk incr_local_pgbr
	row "incremental, 1% random update" incr_random_stk incr_random_pgbr
	row "restore of the 1% incremental" restore_incr_stk restore_incr_pgbr
	echo
	echo "wall seconds and CPU-seconds (user + system of the command's threads and processes; not the server's) are medians."
	echo "speed = peer wall seconds / stk wall seconds (> 1: stk is faster); CPU = peer CPU-s / stk CPU-s (> 1: stk does less work)."
	echo "MB/s = data directory size / wall seconds, also for incrementals. pg_basebackup's CPU-s exclude the walsender that reads the files."
	echo "noisy rounds (other processes used > $NOISE CPU per second) discarded and repeated: $NDISCARDED; rows with * still include a noisy round."
	echo
	echo "every run (the stored/read sizes are those of the last run):"
	for k in full_gz_stk full_gz_pgbr full_gz_pgbb full_zstd_stk full_zstd_pgbr incr_same_stk incr_same_pgbr incr_local_stk incr_local_pgbr incr_random_stk incr_random_pgbr; do
		[ -n "${X[$k]:-}" ] && printf '  %-18s %-52s wall:%s  CPU:%s\n' "$k" "${X[$k]}" "${T[$k]:-}" "${C[$k]:-}"
	done
	for k in restore_gz_stk restore_gz_pgbr restore_gz_pgbb restore_zstd_stk restore_zstd_pgbr restore_incr_stk restore_incr_pgbr; do
		[ -n "${T[$k]:-}" ] && printf '  %-18s %-52s wall:%s  CPU:%s\n' "$k" "" "${T[$k]:-}" "${C[$k]:-}"
	done
	echo
	echo "server-side duration (median ms) of the backup calls, from the server log:"
	echo "  stk:        pg_backup_start $(pg_calls libstkdr 'pg_backup_start\(')  pg_backup_stop $(pg_calls libstkdr 'pg_backup_stop\(')"
	echo "  pgbackrest: pg_backup_start $(pg_calls 'pgBackRest \[backup\]' 'pg_backup_start\(')  pg_backup_stop $(pg_calls 'pgBackRest \[backup\]' 'pg_backup_stop\(')"
	echo
	fs=$(median "${T[full_gz_stk]:-}")
	fp=$(median "${T[full_gz_pgbr]:-}")
	zs=$(median "${T[full_zstd_stk]:-}")
	zp=$(median "${T[full_zstd_pgbr]:-}")
	rs=$(median "${T[restore_gz_stk]:-}")
	rp=$(median "${T[restore_gz_pgbr]:-}")
	rzs=$(median "${T[restore_zstd_stk]:-}")
	rzp=$(median "${T[restore_zstd_pgbr]:-}")
	us=$(median "${T[incr_same_stk]:-}")
	ls_=$(median "${T[incr_local_stk]:-}")
	ris=$(median "${T[restore_incr_stk]:-}")
	awk -v ris="$ris" -v fs="$fs" -v fp="$fp" -v zs="$zs" -v zp="$zp" -v rs="$rs" -v rp="$rp" -v rzs="$rzs" -v rzp="$rzp" -v us="$us" -v ls_="$ls_" 'function v(ok) { return ok ? "met" : "NOT met" } BEGIN {
		print "goals:"
		if (fp != "") printf "  full snapshot >= 1.5x pgBackRest (gzip):   %.2fx  %s\n", fp / fs, v(fp / fs >= 1.5)
		if (zs != "" && zp != "") printf "  full snapshot >= 1.5x pgBackRest (zstd):   %.2fx  %s\n", zp / zs, v(zp / zs >= 1.5)
		if (rp != "") printf "  restore >= pgBackRest (gzip):              %.2fx  %s\n", rp / rs, v(rp / rs >= 1)
		if (rzs != "" && rzp != "") printf "  restore >= pgBackRest (zstd):              %.2fx  %s\n", rzp / rzs, v(rzp / rzs >= 1)
		printf "  unchanged snapshot < 0.5 s:                %.2f s  %s\n", us, v(us < 0.5)
		printf "  1%% incremental < 10%% of full (%.2f s):    %.2f s = %.0f%%  %s\n", fs, ls_, 100 * ls_ / fs, v(ls_ < 0.1 * fs)
		if (ris != "") printf "  restore of the 1%% incremental / of the full: %.2f s / %.2f s = %.2fx\n", ris, rs, ris / rs
	}'
	if [ -f "$WORK/prof.txt" ]; then
		echo
		echo "profile (share of on-CPU samples of the command and its threads; perf cpu-clock):"
		sed 's/^/  /' "$WORK/prof.txt"
	fi
	if [ -f "$WORK/components.txt" ]; then
		echo
		echo "component throughput, one thread (bench/components.c):"
		sed 's/^/  /' "$WORK/components.txt"
	fi
	echo
	echo "total bench time: $(awk -v a="$T_BEGIN" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s (pgbench -i: ${T_LOAD} s)"
} | tee "$WORK/report.txt"
