/*
 * The command table of stk. To add a command, write its function (see cli.h), declare it in commands.h
 * and add a row here; keep the rows grouped by their first word, in the order `stk --help` lists them.
 * Command names and flags are a contract with operators' scripts (CLI.md): add freely, never rename.
 */
#include "commands.h"

#include <stddef.h>

static const cli_option config_keys_options[] = {
	{ "markdown", 0, NULL, "print the Markdown table of docs/configuration.md's key reference" },
	{ NULL, 0, NULL, NULL },
};

static const cli_option snapshot_create_options[] = {
	{ "kind", 0, "K", "hourly, daily, monthly or manual (default manual): decides retention" },
	{ "label", 'l', "L", "free text kept with the snapshot (\"before v2.3 upgrade\")" },
	{ "keep", 0, NULL, "never expire this snapshot by policy (before upgrades, destructive migrations)" },
	{ "full", 0, NULL, "take a full snapshot even if an incremental one is possible" },
	{ "delta", 0, NULL, "re-read every file instead of trusting size and modification time" },
	{ "parallel", 'p', "N", "worker threads (default: snapshot.parallel)" },
	{ NULL, 0, NULL, NULL },
};

static const cli_option wal_prefetch_options[] = {
	{ "count", 0, "N", "segments to fetch ahead (default wal.prefetch, 8)" },
	{ NULL, 0, NULL, NULL }
};

static const cli_option wal_receive_options[] = {
	{ "slot", 0, "NAME", "physical replication slot (default wal.slot, stkdr_<deployment>)" },
	{ NULL, 0, NULL, NULL },
};

static const cli_option snapshot_expire_options[] = {
	{ "dry-run", 'n', NULL, "only say what would be deleted and why" },
	{ NULL, 0, NULL, NULL },
};

static const cli_option verify_options[] = {
	{ "snapshot", 's', "ID", "the snapshot to verify, or \"latest\" (required)" },
	{ "checksums-only", 0, NULL, "only check every object's SHA-256; do not restore and start a copy" },
	{ "keep-scratch", 0, NULL, "keep the scratch copy (stopped) for a post-mortem" },
	{ "scratch-dir", 0, "DIR", "where to restore the throwaway copy (default verify.scratch_dir, $TMPDIR, /tmp)" },
	{ NULL, 0, NULL, NULL },
};

static const cli_option restore_options[] = {
	{ "target-dir", 0, "DIR", "local-postgres: the new data directory (absent or empty)" },
	{ "target-instance", 0, "NAME", "managed providers (aws-rds): the NEW instance to restore into" },
	{ "snapshot", 0, "ID", "restore this snapshot (or \"latest\") to its consistent point" },
	{ "time", 0, "T", "recover to this RFC 3339 time (2026-02-10T14:25:00Z)" },
	{ "lsn", 0, "L", "recover to this WAL location (0/3000028)" },
	{ "latest", 0, NULL, "recover to the end of the archived WAL" },
	{ "start", 0, NULL, "start the restored cluster and wait until it reached the target" },
	{ "port", 0, "N", "with --start: the port (default: a free one)" },
	{ "delta", 0, NULL, "reuse matching files of a non-empty target; replace the rest" },
	{ "force", 0, NULL, "empty a non-empty target first (never one a server runs on)" },
	{ "swap", 0, NULL, "point the Hub at the result: with --start, dns.record TXT / restore.swap_file; with "
		"--target-instance, the new instance takes the Hub's instance name (the old one is kept, renamed)" },
	{ "parallel", 'p', "N", "worker threads (default: snapshot.parallel)" },
	{ NULL, 0, NULL, NULL },
};

static const cli_option audit_export_options[] = {
	{ "day", 0, "D", "export this UTC day (YYYY-MM-DD)" },
	{ "from", 0, "D", "first day of a range, with --to (default: the day after the newest archived day)" },
	{ "to", 0, "D", "last day of a range, with --from (default: yesterday)" },
	{ NULL, 0, NULL, NULL },
};

static const cli_option audit_range_options[] = {
	{ "day", 0, "D", "only this UTC day (YYYY-MM-DD)" },
	{ "from", 0, "D", "first day (default: the first archived day)" },
	{ "to", 0, "D", "last day (default: the newest archived day)" },
	{ NULL, 0, NULL, NULL },
};

static const cli_option audit_restore_options[] = {
	{ "from", 0, "D", "first day to restore (required, or --day)" },
	{ "to", 0, "D", "last day to restore (required, or --day)" },
	{ "day", 0, "D", "restore this one day" },
	{ NULL, 0, NULL, NULL },
};

static const cli_option audit_log_options[] = {
	{ "action", 0, "A", "only this action (project.delete)" },
	{ "actor", 0, "X", "only this actor" },
	{ "since", 0, "T", "rows at or after T: a duration before now (24h, 7d) or a time (2026-02-10T14:00:00Z)" },
	{ "until", 0, "T", "rows before T (same forms)" },
	{ "limit", 0, "N", "at most N rows" },
	{ NULL, 0, NULL, NULL },
};

static const cli_option keys_pe_options[] = {
	{ "project", 0, "P", "the project (required)" },
	{ "env", 0, "E", "the environment (required)" },
	{ NULL, 0, NULL, NULL },
};

static const cli_option keys_gen_options[] = {
	{ "project", 0, "P", "the project (required)" },
	{ "env", 0, "E", "the environment (required)" },
	{ "alg", 0, "A", "ES256 (P-256) or RS256 (RSA 2048); default keys.algorithm" },
	{ NULL, 0, NULL, NULL },
};

static const cli_option keys_backup_options[] = {
	{ "project", 0, "P", "the project (required unless --all)" },
	{ "env", 0, "E", "the environment (required unless --all)" },
	{ "all", 0, NULL, "back up every project/environment that has keys (one secret each)" },
	{ NULL, 0, NULL, NULL },
};

static const cli_option keys_import_options[] = {
	{ "project", 0, "P", "the project (required)" },
	{ "env", 0, "E", "the environment (required)" },
	{ "key-file", 0, "F", "a PEM private key (SEC1/PKCS#8 EC P-256, PKCS#1/PKCS#8 RSA >= 2048) or a backup bundle" },
	{ "from-backup", 0, NULL, "import the backup bundle from the secrets backend" },
	{ "stage", 0, "S", "with --from-backup: current (default) or previous" },
	{ "version", 0, "V", "with --from-backup: this secret version" },
	{ "replica", 0, NULL, "with --from-backup: read the replica of keys.backup_replica (primary region down)" },
	{ NULL, 0, NULL, NULL },
};

static const cli_option auth_create_options[] = {
	{ "user-id", 0, "U", "the token's subject (required)" },
	{ "project", 0, "P", "the project (required)" },
	{ "env", 0, "E", "the environment (required)" },
	{ "ttl", 0, "D", "lifetime (30s, 15m, 24h); default keys.token_ttl (15m)" },
	{ NULL, 0, NULL, NULL },
};

static const cli_option bridge_sync_options[] = {
	{ "env", 0, "E", "the environment (required)" },
	{ "project", 0, "P", "the project (default keysync.project)" },
	{ NULL, 0, NULL, NULL },
};

const cli_command cli_commands[] = {
	{ "snapshot create", cmd_snapshot_create, NULL, 0, 0,
	  "take a snapshot of the running Hub DB (incremental when possible)",
	  snapshot_create_options,
	  "Takes a consistent physical backup of the cluster at postgres.conninfo / postgres.data_dir while\n"
	  "it keeps taking writes, and stores it in the repository with the WAL that makes it consistent.\n"
	  "Prints the new snapshot's id. Exit 5 if data pages failed their checksum (the snapshot is kept)." },
	{ "snapshot list", cmd_snapshot_list, NULL, 0, 0,
	  "list the snapshots in the repository, oldest first",
	  NULL, NULL },
	{ "snapshot show", cmd_snapshot_show, "ID", 1, 1,
	  "print a snapshot's manifest (ID or \"latest\")",
	  NULL, NULL },
	{ "snapshot delete", cmd_snapshot_delete, "ID", 1, 1,
	  "delete a snapshot (its data stays while an incremental child needs it)",
	  NULL, NULL },
	{ "snapshot expire", cmd_snapshot_expire, NULL, 0, 0,
	  "apply the retention policy (hourly 7d, daily 30d, monthly 365d; --keep never)",
	  snapshot_expire_options,
	  "Prints one line per snapshot: keep or DELETE and the rule that decided it. Also removes archived\n"
	  "WAL older than the oldest remaining snapshot and what failed runs left behind." },
	{ "hub verify-backup", cmd_hub_verify_backup, NULL, 0, 0,
	  "test-restore a snapshot into a throwaway cluster and check it (runbook: weekly verification)",
	  verify_options,
	  "Checks every object's SHA-256, restores into a scratch directory, runs pg_verifybackup, starts a\n"
	  "throwaway PostgreSQL on a free loopback port, runs amcheck on every btree index, counts the rows of\n"
	  "verify.tables and runs verify.smoke_query, then removes it. Exit 0 if every check passed, 5 if one\n"
	  "failed (the report names the file, index or table). The result is stored in the repository." },
	{ "restore", cmd_restore, NULL, 0, 0,
	  "restore a snapshot or a point in time into a new data directory",
	  restore_options,
	  "Chooses the newest snapshot before the target, lays it down (every part checked against its\n"
	  "SHA-256), writes the recovery configuration and, with --start, starts the cluster and waits until\n"
	  "recovery reached the target. Refuses a non-empty directory unless --delta or --force, and always\n"
	  "refuses one a server is running on." },
	{ "status", cmd_status, NULL, 0, 0,
	  "recovery readiness: RPO exposure, restorable range, WAL gaps, against the targets",
	  NULL,
	  "Prints the newest snapshot, the newest archived WAL and its age (the RPO exposure), the latest\n"
	  "restorable time, every gap in the WAL chain, the last verification (the measured restore time),\n"
	  "and whether targets.rpo and targets.rto are met. Exit 0 if both are met, 1 if not, 5 if WAL is\n"
	  "missing from the archive." },
	{ "wal push", cmd_wal_push, "PATH", 1, 1,
	  "archive one WAL file (archive_command = 'stk wal push %p')",
	  NULL,
	  "Idempotent: the same file again succeeds; a different file under the same name is refused." },
	{ "wal receive", cmd_wal_receive, NULL, 0, 0,
	  "stream WAL from the primary into the archive, seconds behind it (like pg_receivewal)",
	  wal_receive_options,
	  "Runs until SIGINT or SIGTERM. Completed segments are archived as `wal push` would (archive_command\n"
	  "may run too); the segment in progress is uploaded every wal.partial_interval (5s), so the RPO is\n"
	  "seconds. A physical replication slot (wal.slot) keeps the WAL the archive does not have yet." },
	{ "wal get", cmd_wal_get, "NAME DEST", 2, 2,
	  "restore one archived WAL file (restore_command = 'stk wal get %f \"%p\"')",
	  NULL,
	  "Checks the file's SHA-256 and writes DEST atomically. When DEST is in a pg_wal directory (recovery),\n"
	  "the next wal.prefetch (8) segments are fetched in the background, in parallel, into\n"
	  "pg_wal/stkdr-prefetch, so that replay never waits on a download; a later `wal get` of one of them\n"
	  "only moves it into place." },
	{ "wal prefetch", cmd_wal_prefetch, "NAME SPOOL", 2, 2,
	  "fetch the segments after NAME into SPOOL ahead of recovery (started by `wal get`)",
	  wal_prefetch_options,
	  "Restores up to --count (wal.prefetch) complete segments that follow NAME on its timeline, in\n"
	  "parallel (snapshot.parallel), each verified and renamed into SPOOL when whole; removes spooled\n"
	  "segments up to NAME. Returns at once if another prefetcher holds SPOOL/.lock." },
	{ "audit export", cmd_audit_export, NULL, 0, 0,
	  "archive audit-log days to the object store (immutable, signed, chained)",
	  audit_export_options,
	  "Streams each UTC day of audit.table as gzip'd CSV to P/audit/YYYY/MM/DD/audit.csv.gz (create-only,\n"
	  "retained audit.retention_years in compliance mode), with its manifest and signed digest under\n"
	  "P/audit-meta/. A day is exported once audit.lag has passed since its end and no transaction that\n"
	  "started before its end is still open; later days wait for the next run. Re-exporting an archived\n"
	  "day is a no-op; a day whose rows changed since is reported (exit 1) and never overwritten." },
	{ "audit verify", cmd_audit_verify, NULL, 0, 0,
	  "check the audit archive's chain, signatures and file hashes",
	  audit_range_options,
	  "Names every modified, deleted, reordered or missing day, including newest days deleted from the\n"
	  "repository (the chain head is kept in the secrets backend). Exit 0 if intact, 5 if not." },
	{ "audit gaps", cmd_audit_gaps, NULL, 0, 0,
	  "compare per-day row counts in the database with the archive",
	  audit_range_options,
	  "Lists the days short in the database (runbook 3.2: \"gap detected\"), with archived and current\n"
	  "counts. Exit 0 if none is short, 1 if some are." },
	{ "audit restore", cmd_audit_restore, NULL, 0, 0,
	  "re-import archived audit-log days into the database (idempotent)",
	  audit_restore_options,
	  "Verifies each day (signature, manifest, both hashes) and imports it in one transaction with\n"
	  "INSERT ... ON CONFLICT (id) DO NOTHING; prints the rows restored per day. Nothing is imported from\n"
	  "a day that fails verification (exit 5)." },
	{ "audit log", cmd_audit_log, NULL, 0, 0,
	  "query the audit log (who did what, when)",
	  audit_log_options, NULL },
	{ "audit lifecycle apply", cmd_audit_lifecycle_apply, NULL, 0, 0,
	  "set the archive's storage tiers: hot 90 days, cold to 365, archive after",
	  NULL,
	  "Sets an object-store lifecycle rule on P/audit/ for objects of every size. The local backend\n"
	  "records the rule and prints what would move now." },
	{ "keys generate", cmd_keys_generate, NULL, 0, 0,
	  "create the first signing key of a project/environment (prints its kid)",
	  keys_gen_options,
	  "Generates an ES256 (P-256) or RS256 key, stores it in keys.table with the private part sealed\n"
	  "under the master key, and makes it active. Refuses if an active key exists (use rotate)." },
	{ "keys list", cmd_keys_list, NULL, 0, 0,
	  "list the signing keys of a project/environment, newest first",
	  keys_pe_options, NULL },
	{ "keys rotate", cmd_keys_rotate, NULL, 0, 0,
	  "make a new active key; the old one verifies for keys.overlap more",
	  keys_gen_options,
	  "The previous active key becomes verify-only until now + keys.overlap (at least the longest token\n"
	  "lifetime); verify-only keys past their time become retired. Prints the new kid." },
	{ "keys backup", cmd_keys_backup, NULL, 0, 0,
	  "write the key set as a new version of <deployment>/signing-keys/<project>/<env> (prints the version)",
	  keys_backup_options,
	  "Every key with its state and verify_until; private keys stay sealed under the master key and the\n"
	  "bundle carries a MAC. The new version is CURRENT, the old one PREVIOUS. Backing up an unchanged set\n"
	  "again returns the same version. With keys.backup_replica the bundle is also written to that second\n"
	  "secrets backend; if only the replica fails, the version is printed and the exit status is non-zero." },
	{ "keys import", cmd_keys_import, NULL, 0, 0,
	  "import a PEM key or a backup bundle (runbook 3.3), all or nothing",
	  keys_import_options,
	  "The same key again is a no-op; a kid that exists with different material is refused; a failed\n"
	  "import changes nothing. --from-backup reads the secret (CURRENT, or --stage previous, or --version);\n"
	  "--replica reads it from the keys.backup_replica backend instead." },
	{ "keys jwks", cmd_keys_jwks, NULL, 0, 0,
	  "print the JWK Set of the keys that verify now (what the Hub serves to Bridges)",
	  keys_pe_options, NULL },
	{ "auth create-token", cmd_auth_create_token, NULL, 0, 0,
	  "sign a token for a user with the active key (prints the token alone)",
	  auth_create_options, NULL },
	{ "auth verify-token", cmd_auth_verify_token, "JWT", 1, 1,
	  "verify a token against the keys of a project/environment (prints the claims)",
	  keys_pe_options,
	  "Checks the signature with the key named by the token's kid, its algorithm, exp/nbf (keys.leeway),\n"
	  "and iss/aud when keys.issuer/keys.audience are set. Exit 0 and the claims if valid, 6 if not." },
	{ "bridge force-sync", cmd_bridge_force_sync, NULL, 0, 0,
	  "fetch the verification keys from the Hub now and refresh the Bridge's cache (runbook 3.3)",
	  bridge_sync_options,
	  "GETs <keysync.hub_url>/v1/projects/<P>/envs/<E>/jwks.json over HTTPS (certificate verified against\n"
	  "keysync.ca_file or the system CAs), validates the key set and replaces the cache in keysync.cache_dir\n"
	  "atomically. Exit 0 when synced; 7 if the Hub is unreachable, 5 if its key set is invalid." },
	{ "config check", cmd_config_check, NULL, 0, 0,
	  "validate the configuration and list every problem",
	  NULL,
	  "Reads the configuration (--config FILE, else $STKDR_CONFIG), applies STKDR_<SECTION>_<KEY>\n"
	  "environment overrides and reports every problem as `FILE: FIELD: MESSAGE` (a JSON array of\n"
	  "{file, field, message} with --json). Exit 0 if valid, 3 if not or if the file cannot be read." },
	{ "config show", cmd_config_show, NULL, 0, 0,
	  "print the effective configuration as JSON (secrets redacted)",
	  NULL,
	  "Prints the configuration after environment overrides, with every default filled in. Passwords in\n"
	  "postgres.conninfo and other secret-bearing values are shown as \"<redacted>\"." },
	{ "config keys", cmd_config_keys, NULL, 0, 0,
	  "list every configuration key with its type, default and environment variable",
	  config_keys_options,
	  "--json prints an array of key descriptions; --markdown prints the table that is the key reference\n"
	  "of docs/configuration.md." },
	{ NULL, NULL, NULL, 0, 0, NULL, NULL, NULL },
};
