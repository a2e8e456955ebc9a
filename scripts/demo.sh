#!/usr/bin/env bash
# The main job of libstkdr, end to end on the local default: `sudo bash scripts/demo.sh`.
#
# Installs what is missing, builds, then runs a disaster-recovery cycle against a throwaway PostgreSQL
# 15 cluster (the "Hub DB"), exactly as an operator would with `stk`:
#   continuous WAL archiving (archive_command = stk wal push) -> a full snapshot -> more writes -> an
#   incremental snapshot -> the weekly verification (test restore, pg_verifybackup, amcheck) -> an
#   operator deletes the project "prod" by accident -> point-in-time restore to just before the
#   deletion into a new cluster -> "prod" is back -> the retention policy (dry run).
# Everything lives under one temporary directory, removed at the end (STKDR_DEMO_KEEP=1 keeps it).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
bash scripts/install-deps.sh

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "building (release) in build-demo/"
if [ ! -f build-demo/meson-private/coredata.dat ]; then
	meson setup build-demo --buildtype=release -Dtests=false >/dev/null
fi
ninja -C build-demo >/dev/null
STK="$ROOT/build-demo/examples/stk"
BIN=/usr/lib/postgresql/15/bin

# PostgreSQL refuses to run as root: the cluster, the repository and every stk call belong to the
# postgres user (archive_command runs as that user too).
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
DEMO=$(mktemp -d /tmp/stkdr-demo-XXXXXX)
chmod 755 "$DEMO"
[ "$(id -u)" -eq 0 ] && chown postgres: "$DEMO"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cleanup() {
	as_pg "$BIN/pg_ctl" -D "$DEMO/restored" -m immediate stop >/dev/null 2>&1 || true
	as_pg "$BIN/pg_ctl" -D "$DEMO/hub" -m immediate stop >/dev/null 2>&1 || true
	if [ "${STKDR_DEMO_KEEP:-0}" = 1 ]; then echo "kept $DEMO"; else rm -rf "$DEMO"; fi
}
trap cleanup EXIT

CFG="$DEMO/stkdr.json"
as_pg tee "$CFG" >/dev/null <<JSON
{
  "deployment": "hub-demo",
  "postgres": {
    "conninfo": "host=127.0.0.1 port=$PORT user=postgres dbname=hub",
    "data_dir": "$DEMO/hub",
    "bin_dir": "$BIN"
  },
  "objstore":   { "backend": "local", "path": "$DEMO/repo" },
  "secrets":    { "backend": "local", "path": "$DEMO/secrets" },
  "dbprovider": { "backend": "local-postgres" },
  "dns":        { "backend": "local", "path": "$DEMO/dns.json" },
  "restore":    { "wal_command": "$STK --config $CFG wal get %f \"%p\"", "swap_file": "$DEMO/hub.env" },
  "verify":     { "tables": "hub.public.projects,hub.public.releases,hub.public.audit_log" }
}
JSON
stk() { as_pg "$STK" --config "$CFG" "$@"; }
psql_hub() { as_pg psql -X -q -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$1 user=postgres dbname=hub" "${@:2}"; }

step "stk config check"
stk config check

step "a throwaway Hub DB (PostgreSQL 15, data checksums) with continuous WAL archiving to the repository"
as_pg "$BIN/initdb" -D "$DEMO/hub" --data-checksums -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
as_pg tee -a "$DEMO/hub/postgresql.conf" >/dev/null <<CONF
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DEMO'
wal_level = replica
archive_mode = on
archive_command = '$STK --config $CFG wal push %p'
archive_timeout = 60
CONF
as_pg "$BIN/pg_ctl" -D "$DEMO/hub" -l "$DEMO/hub.log" -w start >/dev/null
as_pg "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres hub
psql_hub "$PORT" <<'SQL'
CREATE TABLE projects (id serial PRIMARY KEY, name text UNIQUE NOT NULL, created timestamptz DEFAULT now());
CREATE TABLE releases (id bigserial PRIMARY KEY, project int REFERENCES projects, version int, schema jsonb);
CREATE TABLE audit_log (id bigserial PRIMARY KEY, timestamp timestamptz NOT NULL DEFAULT now(), actor text,
                        action text, resource text, details jsonb);
CREATE INDEX ON audit_log (timestamp);
INSERT INTO projects (name) SELECT 'project-' || g FROM generate_series(1, 200) g;
INSERT INTO projects (name) VALUES ('prod');
INSERT INTO releases (project, version, schema)
  SELECT 1 + g % 201, g, jsonb_build_object('tables', g % 17) FROM generate_series(1, 100000) g;
INSERT INTO audit_log (actor, action, resource, details)
  SELECT 'op-' || g % 7, 'release.apply', 'project-' || g % 200, '{}' FROM generate_series(1, 50000) g;
SQL
psql_hub "$PORT" -c "SELECT pg_size_pretty(pg_database_size('hub')) AS hub_db_size"

step "stk snapshot create --kind daily   (full)"
time stk snapshot create --kind daily --label "demo baseline"

step "more writes, then stk snapshot create --kind hourly   (incremental)"
psql_hub "$PORT" -c "INSERT INTO releases (project, version) SELECT 201, g FROM generate_series(1, 1000) g"
time stk snapshot create --kind hourly
stk snapshot list

step "stk hub verify-backup --snapshot latest   (the weekly test restore)"
stk hub verify-backup --snapshot latest

step "stk status   (RPO exposure, restorable range, WAL gaps, measured RTO)"
stk status

step "incident: an operator runs 'stk project delete --project prod'"
sleep 1
BEFORE=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
sleep 1
psql_hub "$PORT" <<'SQL'
DELETE FROM releases WHERE project = (SELECT id FROM projects WHERE name = 'prod');
DELETE FROM projects WHERE name = 'prod';
INSERT INTO audit_log (actor, action, resource) VALUES ('op-3', 'project.delete', 'prod');
SELECT pg_switch_wal();
SQL
psql_hub "$PORT" -c "SELECT count(*) AS prod_rows_now FROM projects WHERE name = 'prod'"
sleep 2  # let the archiver push the switched segment

step "stk restore --time $BEFORE --start --swap   (point in time, just before the deletion)"
as_pg mkdir -m 700 "$DEMO/restored"
time stk restore --target-dir "$DEMO/restored" --time "$BEFORE" --start --port "$RPORT" --swap
psql_hub "$RPORT" -c "SELECT name, (SELECT count(*) FROM releases r WHERE r.project = p.id) AS releases FROM projects p WHERE name = 'prod'"
RESTORED=$(psql_hub "$RPORT" -At -c "SELECT count(*) FROM projects WHERE name = 'prod'")
[ "$RESTORED" = 1 ] || { echo "demo FAILED: project 'prod' was not restored" >&2; exit 1; }
echo "project 'prod' is back in the restored cluster on port $RPORT, and --swap pointed the Hub at it:"
cat "$DEMO/hub.env"

step "stk snapshot expire --dry-run   (grandfather-father-son retention)"
stk snapshot expire --dry-run

step "demo complete: every step above ran against a real PostgreSQL through libstkdr"
