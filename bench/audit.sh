#!/usr/bin/env bash
# Audit-log archive benchmark: `stk audit export` vs `psql -c "COPY ... TO STDOUT WITH CSV HEADER" | gzip`
# on the same rows, and `stk audit restore` throughput, on a throwaway PostgreSQL 15 cluster.
#
#   sudo bench/audit.sh
#
# Environment (defaults in brackets):
#   ROWS [2000000]    rows in the generated audit_log (spread over DAYS days)
#   DAYS [20]
#   LEVEL [6]         gzip level of the psql pipeline (stk always uses 6, fixed for determinism)
#   REPEAT [3]        runs of each step, interleaved (psql, stk export, psql, stk export, ...; then the
#                     restores): the medians are reported, so that noise from other work hits both sides
#   BUILD [build-audit-rel]  meson build directory (release) holding examples/stk
#   PGBIN [/usr/lib/postgresql/15/bin]
#
# stk audit restore runs with the default audit.restore_parallel (2 connections);
# STKDR_AUDIT_RESTORE_PARALLEL=1 measures one.
#
# Goals (issue 5): export at least as fast as the psql pipeline; restore at least 100k rows/s.
# Exits non-zero only if a step fails, never because of a slow ratio.
set -euo pipefail
export LC_ALL=C

ROWS=${ROWS:-2000000}
DAYS=${DAYS:-20}
REPEAT=${REPEAT:-3}
LEVEL=${LEVEL:-6}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/${BUILD:-build-audit-rel}

say() { printf '%s\n' "$*" >&2; }
die() { say "bench: FAILED: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (PostgreSQL runs as the postgres user through runuser)"
[ -x "$PGBIN/initdb" ] || die "PostgreSQL 15 server binaries not found in $PGBIN"
if [ ! -x "$BUILD/examples/stk" ]; then
	(cd "$ROOT" && { test -d "$BUILD" || meson setup "$BUILD" --buildtype=release >/dev/null; } && ninja -C "$BUILD" >/dev/null) ||
		die "cannot build stk"
fi

WORK=$(mktemp -d /tmp/stkdr-audit-bench-XXXXXX)
PGDATA=$WORK/pgdata
UP=0
cleanup() {
	local rc=$?
	[ "$UP" = 1 ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1 || true
	rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT
chown postgres:postgres "$WORK"
PORT=$(( 20000 + RANDOM % 20000 ))
runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C >/dev/null
cat >>"$PGDATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$WORK'
fsync = off
synchronous_commit = off
shared_buffers = 256MB
EOF
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/server.log" -w start >/dev/null
UP=1
PSQL=(psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1)
command -v psql >/dev/null || PSQL=("$PGBIN/psql" "${PSQL[@]:1}")

say "generating $ROWS rows over $DAYS days..."
"${PSQL[@]}" <<EOF
CREATE TABLE audit_log (id bigserial PRIMARY KEY, timestamp timestamptz NOT NULL, actor text, action text,
  resource text, details jsonb);
INSERT INTO audit_log (timestamp, actor, action, resource, details)
SELECT timestamptz '2026-01-01 00:00:00+00' + ((g - 1)::float8 / $ROWS) * interval '$DAYS days',
  'user' || (g % 977) || '@example.com', (ARRAY['project.create','project.delete','user.login','key.rotate'])[g % 4 + 1],
  'project/' || (g % 5003), jsonb_build_object('ip', '10.0.' || (g % 255) || '.' || (g % 253), 'n', g, 'note', 'a, "b"')
FROM generate_series(1, $ROWS) g;
CREATE INDEX ON audit_log (timestamp);
VACUUM ANALYZE audit_log;
EOF

export STKDR_MASTER_KEY=${STKDR_MASTER_KEY:-$(head -c 32 /dev/urandom | base64)}
CFG=$WORK/stk.json
cat >"$CFG" <<EOF
{"deployment":"bench","postgres":{"conninfo":"host=127.0.0.1 port=$PORT user=postgres dbname=postgres"},
 "objstore":{"backend":"local","path":"$WORK/repo"},"secrets":{"backend":"local","path":"$WORK/secrets"},
 "audit":{"lag":"0s"}}
EOF
FROM=2026-01-01
TO=$(date -u -d "2026-01-01 + $((DAYS - 1)) days" +%F)

now() { date +%s.%N; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
P=() E=() R=()
for i in $(seq 1 "$REPEAT"); do
	t0=$(now)
	"${PSQL[@]}" -c "COPY (SELECT id, to_char(timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), actor, action, resource, details::text FROM audit_log ORDER BY timestamp, id) TO STDOUT WITH CSV HEADER" |
		gzip -"$LEVEL" >"$WORK/psql.csv.gz"
	t1=$(now)
	rm -rf "$WORK/repo" "$WORK/secrets"
	"$BUILD/examples/stk" --config "$CFG" -q audit export --from "$FROM" --to "$TO" >/dev/null
	t2=$(now)
	P+=("$(echo "$t1 - $t0" | bc)") E+=("$(echo "$t2 - $t1" | bc)")
	say "run $i: psql | gzip ${P[-1]} s, stk audit export ${E[-1]} s"
done
for i in $(seq 1 "$REPEAT"); do
	"${PSQL[@]}" -c "TRUNCATE audit_log"
	t3=$(now)
	"$BUILD/examples/stk" --config "$CFG" ${RESTORE_V:--q} audit restore --from "$FROM" --to "$TO" >/dev/null
	t4=$(now)
	n=$("${PSQL[@]}" -At -c "SELECT count(*) FROM audit_log")
	[ "$n" = "$ROWS" ] || die "restore brought back $n rows, not $ROWS"
	R+=("$(echo "$t4 - $t3" | bc)")
	say "run $i: stk audit restore ${R[-1]} s"
done

awk -v r="$ROWS" -v n="$REPEAT" -v p="$(printf '%s\n' "${P[@]}" | median)" -v e="$(printf '%s\n' "${E[@]}" | median)" \
	-v s="$(printf '%s\n' "${R[@]}" | median)" \
	-v pz="$(stat -c %s "$WORK/psql.csv.gz")" -v ez="$(du -cb "$WORK"/repo/bench/audit/*/*/*/audit.csv.gz | tail -1 | cut -f1)" 'BEGIN {
	printf "rows                      %d (medians of %d interleaved runs)\n", r, n
	printf "psql COPY | gzip -'"$LEVEL"'       %7.2f s  %9.0f rows/s  %d bytes\n", p, r / p, pz
	printf "stk audit export          %7.2f s  %9.0f rows/s  %d bytes (hash, sign, per-day files)\n", e, r / e, ez
	printf "export / psql speed       %7.2f (>= 1.00 is the goal)\n", p / e
	printf "stk audit restore         %7.2f s  %9.0f rows/s (goal >= 100000)\n", s, r / s
}'
