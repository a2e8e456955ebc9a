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
	{ "target-instance", 0, "NAME", "managed providers: the new instance" },
	{ "snapshot", 0, "ID", "restore this snapshot (or \"latest\") to its consistent point" },
	{ "time", 0, "T", "recover to this RFC 3339 time (2026-02-10T14:25:00Z)" },
	{ "lsn", 0, "L", "recover to this WAL location (0/3000028)" },
	{ "latest", 0, NULL, "recover to the end of the archived WAL" },
	{ "start", 0, NULL, "start the restored cluster and wait until it reached the target" },
	{ "port", 0, "N", "with --start: the port (default: a free one)" },
	{ "delta", 0, NULL, "reuse matching files of a non-empty target; replace the rest" },
	{ "force", 0, NULL, "empty a non-empty target first (never one a server runs on)" },
	{ "parallel", 'p', "N", "worker threads (default: snapshot.parallel)" },
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
	{ "wal push", cmd_wal_push, "PATH", 1, 1,
	  "archive one WAL file (archive_command = 'stk wal push %p')",
	  NULL,
	  "Idempotent: the same file again succeeds; a different file under the same name is refused." },
	{ "wal get", cmd_wal_get, "NAME DEST", 2, 2,
	  "restore one archived WAL file (restore_command = 'stk wal get %f \"%p\"')",
	  NULL, NULL },
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
