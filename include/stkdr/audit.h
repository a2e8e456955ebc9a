/**
 * @file stkdr/audit.h
 * @brief The audit-log archive (runbook 2.2 "audit log", 3.2 "audit log purged"): daily immutable
 *        export, tamper evidence, verification, gap detection, restore, query and storage tiers.
 * @defgroup stkdr_audit Audit-log archive
 *
 * Every UTC day of the Hub DB's audit table is exported once, deterministically, as a gzip'd CSV at
 * `P/audit/YYYY/MM/DD/audit.csv.gz` (Athena-readable), immutable for `audit.retention_years`. Its
 * manifest and its signed digest live under `P/audit-meta/YYYY/MM/DD/`; each digest holds the hash of
 * the previous day's digest (a chain, signed with ECDSA P-256 by an archive key kept in the secrets
 * backend), and the chain head is kept in the secrets backend too, so that deleting the newest days is
 * detected. Formats: docs/formats.md.
 *
 * Days are "YYYY-MM-DD" (UTC). A range is inclusive; NULL bounds take the defaults each call names.
 *
 * Callbacks run on the calling thread, and must not call into the same context.
 * Thread-safety: like every call taking a ::stkdr_ctx, one thread per context at a time.
 * @{
 */
#ifndef STKDR_AUDIT_H
#define STKDR_AUDIT_H

#include "common.h"
#include "buf.h"
#include "ctx.h"

STKDR_BEGIN_DECL

/** What happened to (or was found about) one day. */
typedef enum stkdr_audit_status {
	STKDR_AUDIT_OK = 0,           /**< verify: chain, signature and hashes check out; gaps: counts match. */
	STKDR_AUDIT_EXPORTED = 1,     /**< export: archived now. */
	STKDR_AUDIT_UNCHANGED = 2,    /**< export: already archived with the same content (no-op). */
	STKDR_AUDIT_NOT_READY = 3,    /**< export: within `audit.lag` of its end, or a transaction that started
	                                   before its end is still open; retried by the next run. */
	STKDR_AUDIT_CONFLICT = 4,     /**< export: the table's rows differ from the archived day (never overwritten). */
	STKDR_AUDIT_MODIFIED = 5,     /**< verify: a file's hash, the manifest or the chain link does not match. */
	STKDR_AUDIT_MISSING = 6,      /**< verify: the day's files (or some of them) are gone. */
	STKDR_AUDIT_REORDERED = 7,    /**< verify: the files under the day belong to another day. */
	STKDR_AUDIT_BAD_SIGNATURE = 8,/**< verify: the digest's signature fails. */
	STKDR_AUDIT_DB_SHORT = 9,     /**< gaps: the table has fewer rows for the day than the archive (0: all gone). */
	STKDR_AUDIT_DB_EXTRA = 10,    /**< gaps: the table has more rows for the day than the archive. */
	STKDR_AUDIT_NOT_ARCHIVED = 11,/**< gaps: the day has rows in the table but no archive. */
	STKDR_AUDIT_RESTORED = 12,    /**< restore: imported (`rows` new rows; 0 when nothing was missing). */
	STKDR_AUDIT_FAILED = 13,      /**< restore: nothing imported; `detail` says why. */
	STKDR_AUDIT_PENDING = 14      /**< restore, verify: the day's file is in the archive storage tier; a retrieval
	                                   was started now (or earlier) and the day is skipped: re-run once it completes
	                                   (`detail` names the file and the retrieval). */
} stkdr_audit_status;

/** Current version of ::stkdr_audit_day. */
#define STKDR_AUDIT_DAY_VERSION 1

/** One day's outcome. Ownership: borrowed for the duration of the callback. Since: 1.0. */
typedef struct stkdr_audit_day {
	unsigned int version; /**< ::STKDR_AUDIT_DAY_VERSION */
	const char *day;      /**< "YYYY-MM-DD". */
	int status;           /**< A ::stkdr_audit_status. */
	int64_t rows;         /**< Rows in the archive (export, verify, gaps) or rows restored (restore). */
	int64_t db_rows;      /**< gaps: rows for the day in the table; -1 elsewhere. */
	const char *detail;   /**< What was found, naming the file or field ("" when nothing to add). */
} stkdr_audit_day;

/** Called per day, in ascending order. Return 0 to go on, negative to stop (returned unchanged). */
typedef int STKDR_CALLBACK(stkdr_audit_day_cb)(const stkdr_audit_day *day, void *payload);

/**
 * Exports the days `from`..`to` of the audit table. Defaults: `from` NULL is the day after the chain
 * head (the newest archived day), or yesterday when nothing is archived yet; `to` NULL is yesterday
 * (and `from` when `from` is given). Days are chained in order, so the first day of an explicit range
 * must follow the chain head (or be at or before it: those days are re-checked). Each day is exported
 * only once `audit.lag` has passed since its end and no transaction that started before its end is still
 * open (PostgreSQL's `now()` is the transaction start); an unready day and all later ones are reported
 * ::STKDR_AUDIT_NOT_READY and left to the next run. Re-exporting an archived day is a no-op when its
 * rows are unchanged; otherwise ::STKDR_AUDIT_CONFLICT is reported and nothing is overwritten. Each day
 * is streamed (never held in memory); compression and upload run on a helper thread the call starts and
 * joins. Journals an ::STKDR_EVENT_ACTION "audit.exported" per exported day.
 * @param from first day or NULL. @param to last day or NULL.
 * One export runs at a time per deployment (a repository lease). The role of `postgres.conninfo` needs
 * `pg_read_all_stats` (or superuser) to see other sessions' transactions: ::STKDR_EAUTH otherwise.
 * @return 0; ::STKDR_EEXISTS if a day conflicts with its archive; ::STKDR_EINVAL (bad day, range not
 *         following the chain head); ::STKDR_ELOCKED (another export runs); ::STKDR_EBACKEND; a
 *         callback's negative value. Since: 1.0.
 */
STKDR_API int stkdr_audit_export(stkdr_ctx *ctx, const char *from, const char *to, stkdr_audit_day_cb cb,
	void *payload);

/**
 * Verifies the archive: every digest's signature, the chain from the first archived day to the head
 * kept in the secrets backend, and (for days in `from`..`to`, NULL: all) the manifest and both hashes of
 * every CSV file. Reports each day; days missing inside the chain or after its last digest (deleted
 * newest days) are reported ::STKDR_AUDIT_MISSING. A day in the range whose CSV file is in the archive
 * storage tier has its chain, signature and manifest checked, its file not (yet): it is reported
 * ::STKDR_AUDIT_PENDING and a retrieval is requested as by stkdr_audit_restore() (narrow the range to
 * avoid retrieving years of files).
 * @return 0 if every day passed; ::STKDR_ECORRUPT if one did not (the message names the first);
 *         ::STKDR_EPENDING if none failed but some are pending; ::STKDR_ENOTFOUND if nothing is archived.
 *         Since: 1.0.
 */
STKDR_API int stkdr_audit_verify(stkdr_ctx *ctx, const char *from, const char *to, stkdr_audit_day_cb cb,
	void *payload);

/**
 * Compares per-day row counts of the table with the manifests for `from`..`to` (NULL: from the first
 * archived day / to the newest), reporting every day (::STKDR_AUDIT_OK, _DB_SHORT, _DB_EXTRA,
 * _NOT_ARCHIVED).
 * @param[out] n_gaps_out days short in the table (may be NULL).
 * @return 0; ::STKDR_EBACKEND. Since: 1.0.
 */
STKDR_API int stkdr_audit_gaps(int64_t *n_gaps_out, stkdr_ctx *ctx, const char *from, const char *to,
	stkdr_audit_day_cb cb, void *payload);

/**
 * Restores archived days `from`..`to` (both required) into the table, in a transaction per day: each
 * day's digest signature and manifest are checked first, then the file is streamed into PostgreSQL while
 * both its hashes are computed, and the transaction commits only if the hashes and the row count match
 * (otherwise it rolls back: nothing of the day is imported). When no row of the table has an id in the
 * day's id range the file is COPied straight into the table; otherwise into a temporary table, from which
 * the rows whose id is absent go in (an anti-join, falling back to `INSERT ... ON CONFLICT (id) DO NOTHING`
 * if a concurrent writer inserts one of those ids). Running it twice adds nothing. `audit.restore_parallel`
 * (2) days are imported at once, each on its own connection by a helper thread the call starts and joins;
 * days are verified and reported in order on the calling thread (when the call stops early, a day being
 * imported meanwhile may still be committed, unreported: running it again adds nothing). The sessions run
 * with `synchronous_commit = off`: the archive is the source of truth, so a server crash that loses the
 * last committed days is repaired by running the restore again. A day that fails verification is reported
 * ::STKDR_AUDIT_FAILED and nothing of it is imported. A day whose file is in the archive storage tier
 * (S3 Deep Archive) is reported ::STKDR_AUDIT_PENDING and skipped: the call requests its retrieval
 * (`audit.retrieval_speed`, `audit.retrieval_days`) through the object store, or finds one under way;
 * the other days proceed, and a later run imports it once the retrieval completes.
 * @return 0; ::STKDR_ECORRUPT if a day failed verification (other days are still restored);
 *         ::STKDR_EPENDING if no day failed but some are pending (the message names the first and its
 *         retrieval); ::STKDR_EINVAL; ::STKDR_EBACKEND. Since: 1.0.
 */
STKDR_API int stkdr_audit_restore(stkdr_ctx *ctx, const char *from, const char *to, stkdr_audit_day_cb cb,
	void *payload);

/** Current version of ::stkdr_audit_query. */
#define STKDR_AUDIT_QUERY_VERSION 1
/** Static initialiser for ::stkdr_audit_query. */
#define STKDR_AUDIT_QUERY_INIT { STKDR_AUDIT_QUERY_VERSION, NULL, NULL, 0, 0, 0 }

/** Filter for stkdr_audit_log(). Since: 1.0. */
typedef struct stkdr_audit_query {
	unsigned int version; /**< ::STKDR_AUDIT_QUERY_VERSION */
	const char *action;   /**< Exact action ("project.delete"), or NULL for all. Borrowed. */
	const char *actor;    /**< Exact actor, or NULL for all. Borrowed. */
	int64_t since_ms;     /**< Rows at or after (Unix ms); 0: no lower bound. */
	int64_t until_ms;     /**< Rows before (Unix ms); 0: no upper bound. */
	int64_t limit;        /**< At most this many rows; 0: no limit. */
} stkdr_audit_query;

/**
 * Initialises `q` to the defaults of structure version `version` (no filter).
 * @return 0, or ::STKDR_EVERSION. Since: 1.0.
 */
STKDR_API int stkdr_audit_query_init(stkdr_audit_query *q, unsigned int version);

/** Current version of ::stkdr_audit_row. */
#define STKDR_AUDIT_ROW_VERSION 1

/** One audit-log row. Ownership: borrowed for the duration of the callback. Since: 1.0. */
typedef struct stkdr_audit_row {
	unsigned int version;  /**< ::STKDR_AUDIT_ROW_VERSION */
	int64_t id;            /**< The row id. */
	int64_t timestamp_ms;  /**< Unix ms. */
	const char *timestamp; /**< ISO 8601 UTC with microseconds ("2026-02-10T14:30:00.000000Z"). */
	const char *actor;     /**< NULL when SQL NULL. */
	const char *action;    /**< NULL when SQL NULL. */
	const char *resource;  /**< NULL when SQL NULL. */
	const char *details;   /**< Compact JSON text, NULL when SQL NULL. */
} stkdr_audit_row;

/** Called per row in (timestamp, id) order. Return 0 to go on, negative to stop (returned unchanged). */
typedef int STKDR_CALLBACK(stkdr_audit_row_cb)(const stkdr_audit_row *row, void *payload);

/**
 * Queries the audit table (the runbook's step 1: who deleted what, when).
 * @param q NULL for all rows.
 * @return 0; ::STKDR_EBACKEND; a callback's negative value. Since: 1.0.
 */
STKDR_API int stkdr_audit_log(stkdr_ctx *ctx, const stkdr_audit_query *q, stkdr_audit_row_cb cb, void *payload);

/**
 * Sets the object store's lifecycle rules for the archive: `P/audit/` hot for 90 days, cold until 365,
 * archive after (every size, small days included); manifests and digests stay hot.
 * @param[out] report_out JSON `{"rules":[...],"plan":[...]}`; the plan lists what would move now (local
 *             backend only). May be NULL. Ownership: caller disposes.
 * @return 0; ::STKDR_ENOTSUPPORTED if the store has no lifecycle rules. Since: 1.0.
 */
STKDR_API int stkdr_audit_lifecycle_apply(stkdr_buf *report_out, stkdr_ctx *ctx);

/** Name of a ::stkdr_audit_status ("ok", "exported", ...); never NULL. Since: 1.0. */
STKDR_API const char *stkdr_audit_status_name(int status);

STKDR_END_DECL

#endif
/** @} */
