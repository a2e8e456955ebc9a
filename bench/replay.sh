#!/usr/bin/env bash
# Restore-plus-replay benchmark (issue #4): a snapshot plus about 1 GB of archived WAL, restored to the end
# of the archive and brought up as a primary, by stk and by pgBackRest, from the same cluster in one run.
#
#   sudo bench/replay.sh      # as root; docs/performance.md "Restore plus replay" has the figures
#
# Environment (defaults in brackets):
#   SCALE [20]       pgbench scale of the database (20 ≈ 330 MB)
#   WAL_MB [1024]    WAL to generate after the backups (bulk updates + pgbench), in MB of LSN distance
#   RUNS [1]         repetitions of every restore (the median is reported)
#   BUILD [build-bench] release build directory of stk
#   PGBIN [/usr/lib/postgresql/15/bin]
#
# What is timed, for each tool: from the restore command's start until the restored server answers
# `SELECT pg_is_in_recovery()` with false (snapshot laid down, every segment fetched through
# restore_command, replayed, promoted). Archiving: one archive_command pushes every segment into both
# repositories, so that both tools restore the very same WAL. Compression: each tool's fast setting (stk: zstd 1 for WAL and snapshot; pgBackRest:
# lz4). Variants: stk with its background prefetch (default, wal.prefetch = 8) and without
# (wal.prefetch = 0); pgBackRest with archive-get async (archive-async=y, process-max=2: its prefetch) and
# synchronous. Exits non-zero only if a step fails, never because of a slow ratio.
set -euo pipefail
export LC_ALL=C
SCALE=${SCALE:-20}
WAL_MB=${WAL_MB:-1024}
RUNS=${RUNS:-1}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
say() { printf '%s\n' "$*" >&2; }
die() { say "bench: FAILED: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (PostgreSQL runs as the postgres user through runuser)"
command -v pgbackrest >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends pgbackrest >/dev/null
(cd "$ROOT" && { test -d "$BUILD" || meson setup "$BUILD" --buildtype=release >/dev/null; } && ninja -C "$BUILD" examples/stk >/dev/null) ||
	die "cannot build stk"

W=$(mktemp -d /tmp/stkdr-replay-XXXXXX)
chmod 755 "$W"
mkdir -p "$W/bin"
cp "$BUILD/examples/stk" "$W/bin/stk"
find "$BUILD" -maxdepth 2 -name 'libstkdr.so*' ! -type d -exec cp -P {} "$W/bin/" \;
chown -R postgres: "$W"
STK="env LD_LIBRARY_PATH=$W/bin $W/bin/stk"
as_pg() { runuser -u postgres -- "$@"; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
	set +e
	for d in "$W"/data "$W"/r.*; do
		[ -d "$d" ] && as_pg "$PGBIN/pg_ctl" -D "$d" -m immediate stop >/dev/null 2>&1
	done
	rm -rf "$W"
}
trap cleanup EXIT
psql_at() { as_pg psql -X -qAt -h 127.0.0.1 -p "$1" -U postgres -d postgres -c "$2"; }

# ---- stk and pgBackRest configurations
stkconf() { # file prefetch
	as_pg tee "$1" >/dev/null <<JSON
{ "deployment": "bench",
  "postgres": { "conninfo": "host=127.0.0.1 port=$PORT user=postgres dbname=postgres", "data_dir": "$W/data", "bin_dir": "$PGBIN" },
  "objstore": { "backend": "local", "path": "$W/stkrepo" },
  "snapshot": { "compression": "zstd", "level": 1, "parallel": 2 },
  "wal": { "compression": "zstd", "level": 1, "prefetch": $2 },
  "restore": { "wal_command": "$STK --config $1 wal get %f \"%p\"" } }
JSON
}
stkconf "$W/stk.json" 8
stkconf "$W/stk-noprefetch.json" 0
pgbrconf() { # file async
	as_pg mkdir -p "$W/pgbr/repo" "$W/pgbr/log" "$W/pgbr/spool"
	as_pg tee "$1" >/dev/null <<CONF
[global]
repo1-path=$W/pgbr/repo
log-path=$W/pgbr/log
spool-path=$W/pgbr/spool
compress-type=lz4
process-max=2
archive-async=$2
log-level-console=error
log-level-file=off
start-fast=y
repo1-retention-full=2
[bench]
pg1-path=$W/data
pg1-port=$PORT
pg1-socket-path=$W
CONF
}
pgbrconf "$W/pgbr.conf" n
pgbrconf "$W/pgbr-async.conf" y

# ---- the source cluster
say "source cluster, pgbench scale $SCALE..."
as_pg "$PGBIN/initdb" -D "$W/data" -U postgres --auth=trust --data-checksums --no-sync >/dev/null
as_pg tee -a "$W/data/postgresql.conf" >/dev/null <<CONF
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$W'
shared_buffers = 256MB
max_wal_size = 4GB
wal_level = replica
archive_mode = on
archive_command = '$STK --config $W/stk.json -q wal push %p && pgbackrest --config=$W/pgbr.conf --stanza=bench archive-push %p'
autovacuum = off
CONF
as_pg "$PGBIN/pg_ctl" -D "$W/data" -l "$W/pg.log" -w start >/dev/null
as_pg pgbackrest --config="$W/pgbr.conf" --stanza=bench stanza-create >/dev/null
as_pg "$PGBIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -i -q -s "$SCALE" postgres >/dev/null 2>&1
say "backups (stk snapshot, pgbackrest full)..."
as_pg $STK --config "$W/stk.json" -q snapshot create --kind manual >/dev/null
as_pg pgbackrest --config="$W/pgbr.conf" --stanza=bench --type=full backup >/dev/null

say "generating ${WAL_MB} MB of WAL..."
START_LSN=$(psql_at "$PORT" "SELECT pg_current_wal_lsn()")
while :; do
	DONE=$(psql_at "$PORT" "SELECT (pg_current_wal_lsn() - '$START_LSN'::pg_lsn)::bigint / 1048576")
	[ "$DONE" -ge "$WAL_MB" ] && break
	psql_at "$PORT" "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 3 = $((RANDOM % 3))" >/dev/null
	as_pg "$PGBIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -n -c 2 -T 5 postgres >/dev/null 2>&1
done
ROWS_SUM=$(psql_at "$PORT" "SELECT sum(abalance) FROM pgbench_accounts")
END_LSN=$(psql_at "$PORT" "SELECT pg_current_wal_lsn()")
psql_at "$PORT" "SELECT pg_switch_wal()" >/dev/null
LAST=$(psql_at "$PORT" "SELECT pg_walfile_name('$END_LSN')")
say "waiting until $LAST is archived..."
for _ in $(seq 600); do
	A=$(psql_at "$PORT" "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
	[[ "$A" > "$LAST" || "$A" == "$LAST" ]] && break
	sleep 1
done
WAL_BYTES=$(psql_at "$PORT" "SELECT ('$END_LSN'::pg_lsn - '$START_LSN'::pg_lsn)::bigint")
SEGS=$(ls "$W"/stkrepo/bench/wal/00000001/ | grep -c '^0' || true)
# the source stops: restores must not be able to stream from it, and the restored servers take no port of its
as_pg "$PGBIN/pg_ctl" -D "$W/data" -m fast stop >/dev/null

now() { date +%s.%N; }
wait_primary() { # port
	for _ in $(seq 36000); do
		[ "$(psql_at "$1" "SELECT pg_is_in_recovery()" 2>/dev/null || true)" = f ] && return 0
		sleep 0.1
	done
	return 1
}
check_restored() { # port label
	local got
	got=$(psql_at "$1" "SELECT sum(abalance) FROM pgbench_accounts")
	[ "$got" = "$ROWS_SUM" ] || die "$2: restored sum(abalance) $got, source $ROWS_SUM"
}
stop_rm() { as_pg "$PGBIN/pg_ctl" -D "$1" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$1"; sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }

run_stk() { # config label
	local d=$W/r.stk t0 t1
	t0=$(now)
	as_pg $STK --config "$1" -q restore --target-dir "$d" --latest --start --port "$RPORT" >/dev/null
	wait_primary "$RPORT" || die "$2: the restored server did not come up"
	t1=$(now)
	check_restored "$RPORT" "$2"
	stop_rm "$d"
	echo "$t1 - $t0" | bc -l
}
run_pgbr() { # config label
	local d=$W/r.pgbr t0 t1
	as_pg mkdir -m 700 "$d"
	t0=$(now)
	as_pg pgbackrest --config="$1" --stanza=bench --pg1-path="$d" --type=default restore >/dev/null
	printf "port = %s\narchive_mode = off\n" "$RPORT" | as_pg tee -a "$d/postgresql.auto.conf" >/dev/null
	as_pg "$PGBIN/pg_ctl" -D "$d" -l "$W/r.pgbr.log" -w -t 3600 start >/dev/null
	wait_primary "$RPORT" || die "$2: the restored server did not come up"
	t1=$(now)
	check_restored "$RPORT" "$2"
	stop_rm "$d"
	echo "$t1 - $t0" | bc -l
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
S=() S0=() B=() BA=()
for r in $(seq "$RUNS"); do
	say "restore + replay, round $r/$RUNS..."
	S+=("$(run_stk "$W/stk.json" "stk")")
	BA+=("$(run_pgbr "$W/pgbr-async.conf" "pgbackrest async")")
	S0+=("$(run_stk "$W/stk-noprefetch.json" "stk without prefetch")")
	B+=("$(run_pgbr "$W/pgbr.conf" "pgbackrest")")
done
T_S=$(median "${S[@]}"); T_S0=$(median "${S0[@]}"); T_B=$(median "${B[@]}"); T_BA=$(median "${BA[@]}")
ratio() { echo "scale=2; $1 / $2" | bc -l; }
printf '\nsnapshot (pgbench scale %s) + %s MB of WAL (%s segments), restore to the end and promote; median of %s (lower middle if even)\n' \
	"$SCALE" "$((WAL_BYTES / 1048576))" "$SEGS" "$RUNS"
printf '%-44s %9s %14s\n' "tool" "seconds" "vs stk"
printf '%-44s %9.2f %14s\n' "stk restore --latest --start (prefetch 8)" "$T_S" "1.00"
printf '%-44s %9.2f %14s\n' "stk, wal.prefetch = 0" "$T_S0" "$(ratio "$T_S0" "$T_S")"
printf '%-44s %9.2f %14s\n' "pgbackrest restore, archive-async=y" "$T_BA" "$(ratio "$T_BA" "$T_S")"
printf '%-44s %9.2f %14s\n' "pgbackrest restore, synchronous archive-get" "$T_B" "$(ratio "$T_B" "$T_S")"
printf '\nspeed vs pgBackRest (its time / stk time): async %s, sync %s\n' "$(ratio "$T_BA" "$T_S")" "$(ratio "$T_B" "$T_S")"
