#!/usr/bin/env bash
# WAL archiving benchmark: `stk wal push` vs `pgbackrest archive-push` vs a bare `dd conv=fsync`, on real
# 16 MiB segments of a pgbench workload, in one run (docs/performance.md, "WAL push").
#
#   sudo bench/wal.sh        # SEGMENTS [24] segments, gzip LEVEL [3] for the gzip rounds, ROUNDS [3]
#
# archive_command is called once per segment, sequentially: what matters is the wall time of one call
# (process start, read, hash, compress, write, fsync), reported as ms/segment and segments/s. Exits
# non-zero only if a tool fails, never because of a slow ratio.
set -euo pipefail
export LC_ALL=C
SEGMENTS=${SEGMENTS:-24}
LEVEL=${LEVEL:-3}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build-bench
say() { printf '%s\n' "$*" >&2; }
[ "$(id -u)" = 0 ] || { say "run as root"; exit 1; }
command -v pgbackrest >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends pgbackrest >/dev/null
if true; then # always bring the release build up to date
	(cd "$ROOT" && { test -d build-bench || meson setup build-bench --buildtype=release >/dev/null; } && ninja -C build-bench >/dev/null)
fi
STK=$BUILD/examples/stk
W=$(mktemp -d /tmp/stkdr-walbench-XXXXXX)
chmod 755 "$W"; chown postgres: "$W"
cleanup() { runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$W"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

say "making $SEGMENTS real WAL segments with pgbench..."
runuser -u postgres -- "$PGBIN/initdb" -D "$W/data" -U postgres --auth=trust --no-sync >/dev/null
cat >> "$W/data/postgresql.conf" <<CONF
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$W'
max_wal_size = 4GB
wal_keep_size = 2GB
CONF
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/data" -l "$W/pg.log" -w start >/dev/null
PGB="$PGBIN/pgbench -h 127.0.0.1 -p $PORT -U postgres"
runuser -u postgres -- $PGB -i -q -s 10 postgres >/dev/null 2>&1
mkdir -p "$W/segs"
while [ "$(ls "$W/segs" | wc -l)" -lt "$SEGMENTS" ]; do
	runuser -u postgres -- $PGB -n -c 2 -t 3000 postgres >/dev/null 2>&1
	runuser -u postgres -- psql -h 127.0.0.1 -p "$PORT" -U postgres -qAtc "SELECT pg_switch_wal()" >/dev/null
	for f in "$W"/data/pg_wal/0000000100000000000000??; do
		[ -f "$f" ] && [ "$(stat -c %s "$f")" = 16777216 ] && cp -n "$f" "$W/segs/" 2>/dev/null || true
	done
done
# only complete, used segments (not recycled zero files); keep SEGMENTS of them
ls "$W/segs" | head -n -1 | tail -n "$SEGMENTS" > "$W/list"
N=$(wc -l < "$W/list")
BYTES=$((N * 16777216))
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/data" -m fast stop >/dev/null

# stk: the repository on the same filesystem, one process per segment. Two configurations: the
# default for WAL (wal.compression auto = zstd, wal.level -1) and gzip at LEVEL, as pgBackRest's.
stkconf() { # file repo compression [level]
	cat > "$1" <<JSON
{ "deployment": "bench", "objstore": { "backend": "local", "path": "$2" },
  "wal": { "compression": "$3"${4:+, \"level\": $4} } }
JSON
}
# pgBackRest: posix repository, synchronous archive-push; gzip at LEVEL, and lz4 (its fastest).
pgbrconf() { # dir compress-type level
	mkdir -p "$1/repo" "$1/log" "$1/spool"
	cat > "$1/pgbackrest.conf" <<CONF
[global]
repo1-path=$1/repo
log-path=$1/log
spool-path=$1/spool
compress-type=$2
compress-level=$3
archive-async=n
log-level-console=error
log-level-file=off
[bench]
pg1-path=$W/data
pg1-port=$PORT
pg1-socket-path=$W
CONF
}
pgbrconf "$W/pgbr" gz "$LEVEL"
pgbrconf "$W/pgbr4" lz4 1
chown -R postgres: "$W"
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/data" -l "$W/pg.log" -w start >/dev/null
for d in pgbr pgbr4; do
	runuser -u postgres -- pgbackrest --config="$W/$d/pgbackrest.conf" --stanza=bench stanza-create >/dev/null
done
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/data" -m fast stop >/dev/null

# One round of a tool (SEGMENT stands for the path): every segment in order, each through `sh -c` as
# PostgreSQL's archiver calls archive_command, all as the postgres user (one runuser per round, so its
# cost is not counted).
run_all() { # command with SEGMENT
	runuser -u postgres -- bash -c '
		t0=$(date +%s.%N)
		while read -r s; do sh -c "${1//SEGMENT/$2/segs/$s}" || exit 1; done < "$2/list"
		t1=$(date +%s.%N)
		echo "$t1 - $t0" | bc -l' _ "$1" "$W"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ROUNDS=${ROUNDS:-3}
say "pushing $N segments ($((BYTES / 1048576)) MiB) with each tool, sequentially, $ROUNDS interleaved rounds..."
D=() S=() S2=() G=() B=() B4=()
for r in $(seq "$ROUNDS"); do
	rm -rf "$W/dd" "$W/stkrepo" "$W/stkrepo-gz" "$W/pgbr/repo" "$W/pgbr4/repo"
	runuser -u postgres -- mkdir -p "$W/dd"
	runuser -u postgres -- mkdir -p "$W/pgbr/repo" "$W/pgbr4/repo"
	for d in pgbr pgbr4; do
		runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/data" -l "$W/pg.log" -w start >/dev/null
		runuser -u postgres -- pgbackrest --config="$W/$d/pgbackrest.conf" --stanza=bench stanza-create >/dev/null
		runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/data" -m fast stop >/dev/null
	done
	stkconf "$W/stk.json" "$W/stkrepo" auto
	stkconf "$W/stk-gz.json" "$W/stkrepo-gz" gzip "$LEVEL"
	chown postgres: "$W"/stk*.json
	sync
	D+=("$(run_all "dd if=SEGMENT of=$W/dd/\$(basename SEGMENT) bs=1M conv=fsync status=none")")
	S+=("$(run_all "$STK --config $W/stk.json -q wal push SEGMENT")")
	B4+=("$(run_all "pgbackrest --config=$W/pgbr4/pgbackrest.conf --stanza=bench archive-push SEGMENT")")
	G+=("$(run_all "$STK --config $W/stk-gz.json -q wal push SEGMENT")")
	B+=("$(run_all "pgbackrest --config=$W/pgbr/pgbackrest.conf --stanza=bench archive-push SEGMENT")")
	S2+=("$(run_all "$STK --config $W/stk.json -q wal push SEGMENT")")   # idempotent re-push
done
T_DD=$(median "${D[@]}"); T_STK=$(median "${S[@]}"); T_STK2=$(median "${S2[@]}")
T_GZ=$(median "${G[@]}"); T_BR=$(median "${B[@]}"); T_BR4=$(median "${B4[@]}")
STORED_STK=$(du -sb "$W/stkrepo" | cut -f1)
STORED_GZ=$(du -sb "$W/stkrepo-gz" | cut -f1)
STORED_BR=$(du -sb "$W/pgbr/repo/archive" | cut -f1)
STORED_BR4=$(du -sb "$W/pgbr4/repo/archive" | cut -f1)

ms() { echo "scale=1; $1 * 1000 / $N" | bc -l; }
rate() { echo "scale=1; $N / $1" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }
row() { printf '%-40s %8s %8s %8s %12s\n' "$1" "$(ms "$2")" "$(rate "$2")" "$(ratio "$2" "$T_DD")" "$3"; }
printf '\n%-40s %8s %8s %8s %12s\n' "tool ($N segments, median of $ROUNDS rounds)" "ms/seg" "seg/s" "vs dd" "stored B"
row "dd conv=fsync (bare copy)" "$T_DD" "$((N * 16777216))"
row "stk wal push (default: zstd -1)" "$T_STK" "$STORED_STK"
row "stk wal push (already archived)" "$T_STK2" "-"
row "pgbackrest archive-push (lz4)" "$T_BR4" "$STORED_BR4"
row "stk wal push (gzip $LEVEL)" "$T_GZ" "$STORED_GZ"
row "pgbackrest archive-push (gzip $LEVEL)" "$T_BR" "$STORED_BR"
printf '\nstk/pgbackrest time ratio: default vs lz4 %s, gzip-%s vs gzip-%s %s\n' \
	"$(ratio "$T_STK" "$T_BR4")" "$LEVEL" "$LEVEL" "$(ratio "$T_GZ" "$T_BR")"
