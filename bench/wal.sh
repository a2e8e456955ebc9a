#!/usr/bin/env bash
# WAL archiving benchmark: `stk wal push` vs `pgbackrest archive-push` vs a bare `dd conv=fsync`, on real
# 16 MiB segments of a pgbench workload, in one run (docs/performance.md, "WAL push").
#
#   sudo bench/wal.sh        # SEGMENTS [24] segments, gzip LEVEL [3]; also ZSTD=1 for a zstd round
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
if [ ! -x "$BUILD/examples/stk" ]; then
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

# stk: the repository on the same filesystem, gzip at LEVEL, one process per segment
cat > "$W/stk.json" <<JSON
{ "deployment": "bench", "objstore": { "backend": "local", "path": "$W/stkrepo" },
  "snapshot": { "compression": "gzip", "level": $LEVEL } }
JSON
# pgBackRest: posix repository, gzip at LEVEL, synchronous archive-push
mkdir -p "$W/pgbr/repo" "$W/pgbr/log" "$W/pgbr/spool"
cat > "$W/pgbr/pgbackrest.conf" <<CONF
[global]
repo1-path=$W/pgbr/repo
log-path=$W/pgbr/log
spool-path=$W/pgbr/spool
compress-type=gz
compress-level=$LEVEL
archive-async=n
log-level-console=error
log-level-file=off
[bench]
pg1-path=$W/data
pg1-port=$PORT
pg1-socket-path=$W
CONF
chown -R postgres: "$W"
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/data" -l "$W/pg.log" -w start >/dev/null
runuser -u postgres -- pgbackrest --config="$W/pgbr/pgbackrest.conf" --stanza=bench stanza-create >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/data" -m fast stop >/dev/null
mkdir -p "$W/dd"; chown postgres: "$W/dd"

now() { date +%s.%N; }
run_all() { # label command-prefix
	local t0 t1
	t0=$(now)
	while read -r s; do "$@" "$W/segs/$s"; done < "$W/list"
	t1=$(now)
	echo "$t1 - $t0" | bc -l
}
say "pushing $N segments ($((BYTES / 1048576)) MiB) with each tool, sequentially..."
sync
T_DD=$(run_all bash -c 'dd if="$1" of='"$W"'/dd/$(basename "$1") bs=1M conv=fsync status=none' _)
T_STK=$(run_all runuser -u postgres -- "$STK" --config "$W/stk.json" -q wal push)
T_STK2=$(run_all runuser -u postgres -- "$STK" --config "$W/stk.json" -q wal push)   # idempotent re-push
T_BR=$(run_all runuser -u postgres -- pgbackrest --config="$W/pgbr/pgbackrest.conf" --stanza=bench archive-push)
if [ "${ZSTD:-0}" = 1 ]; then
	sed -i 's/"gzip"/"zstd"/' "$W/stk.json"; rm -rf "$W/stkrepo"
	T_STKZ=$(run_all runuser -u postgres -- "$STK" --config "$W/stk.json" -q wal push)
fi
STORED_STK=$(du -sb "$W/stkrepo" | cut -f1)
STORED_BR=$(du -sb "$W/pgbr/repo/archive" | cut -f1)

ms() { echo "scale=1; $1 * 1000 / $N" | bc -l; }
rate() { echo "scale=1; $N / $1" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }
printf '\n%-34s %10s %10s %12s\n' "tool ($N segments, gzip $LEVEL)" "ms/seg" "seg/s" "vs dd"
printf '%-34s %10s %10s %12s\n' "dd conv=fsync (bare copy)" "$(ms "$T_DD")" "$(rate "$T_DD")" "1.00"
printf '%-34s %10s %10s %12s\n' "stk wal push" "$(ms "$T_STK")" "$(rate "$T_STK")" "$(ratio "$T_STK" "$T_DD")"
printf '%-34s %10s %10s %12s\n' "stk wal push (already archived)" "$(ms "$T_STK2")" "$(rate "$T_STK2")" "$(ratio "$T_STK2" "$T_DD")"
printf '%-34s %10s %10s %12s\n' "pgbackrest archive-push" "$(ms "$T_BR")" "$(rate "$T_BR")" "$(ratio "$T_BR" "$T_DD")"
[ -n "${T_STKZ:-}" ] && printf '%-34s %10s %10s %12s\n' "stk wal push (zstd $LEVEL)" "$(ms "$T_STKZ")" "$(rate "$T_STKZ")" "$(ratio "$T_STKZ" "$T_DD")"
printf '\nstk/pgbackrest time ratio: %s   stored: stk %s B, pgbackrest %s B\n' "$(ratio "$T_STK" "$T_BR")" "$STORED_STK" "$STORED_BR"
