/**
 * @file stkdr/sys/backend.h
 * @brief The backend implementer's API: the four vtables (object store, secrets, database provider,
 *        DNS), their registration, and the helpers backends use.
 * @defgroup stkdr_sys_backend Backend vtables
 *
 * Rules for every vtable (SQLite's `sqlite3_vfs` discipline):
 * - The struct starts with ::stkdr_backend, whose `version` says which methods exist. Methods are
 *   appended under a `added in version N` comment; the core calls a method only if
 *   `version >= N` and the pointer is non-NULL, otherwise it falls back or fails with
 *   ::STKDR_ENOTSUPPORTED.
 * - Implementations embed the struct as the first member of their own.
 * - `free` is mandatory. `ctl` is the escape hatch: ops below 1000 are the core's, unknown ops must
 *   return ::STKDR_ENOTSUPPORTED.
 * - On failure a method returns a negative ::stkdr_error_code and sets detail with
 *   stkdr_error_set_str() (see sys/errors.h). It never prints, exits or aborts.
 * - Buffers a method hands back to the core are ::stkdr_buf filled with stkdr_buf_set()/_put(), so
 *   allocators never mix.
 * - Thread-safety: secrets, DNS and database-provider instances are used by one thread at a time (the
 *   context's) and must be reentrant across instances. Object stores are `Thread-safety: shared`: the
 *   core moves data in parallel, so every objstore method may be called from several threads at once,
 *   and each writer or reader it returns is then used by one thread at a time.
 * @{
 */
#ifndef STKDR_SYS_BACKEND_H
#define STKDR_SYS_BACKEND_H

#include "../common.h"
#include "../buf.h"
#include "../ctx.h"

STKDR_BEGIN_DECL

/** Which vtable a backend implements. */
typedef enum stkdr_backend_kind {
	STKDR_BACKEND_OBJSTORE = 1,  /**< ::stkdr_objstore */
	STKDR_BACKEND_SECRETS = 2,   /**< ::stkdr_secrets */
	STKDR_BACKEND_DBPROVIDER = 3,/**< ::stkdr_dbprovider */
	STKDR_BACKEND_DNS = 4        /**< ::stkdr_dns */
} stkdr_backend_kind;

/** Current version of ::stkdr_backend. */
#define STKDR_BACKEND_VERSION 1

typedef struct stkdr_backend stkdr_backend;

/** Common head of every backend. Since: 1.0. */
struct stkdr_backend {
	unsigned int version; /**< Version of the whole vtable it heads (e.g. ::STKDR_OBJSTORE_VERSION). */
	int kind;             /**< A ::stkdr_backend_kind. */
	const char *name;     /**< Name selected by the configuration ("local", "s3"...). Borrowed from the backend. */
	/** Escape hatch for provider-specific knobs; may be NULL. */
	int STKDR_CALLBACK(ctl)(stkdr_backend *be, int op, void *arg);
	/** Releases the backend. Mandatory. */
	void STKDR_CALLBACK(free)(stkdr_backend *be);
};

/** `ctl` op: the core tells a backend the context it serves (`arg` is the ::stkdr_ctx *). */
#define STKDR_CTL_ATTACH 1
/**
 * `ctl` op (object stores): remove what interrupted writes left (temporary files, incomplete multipart
 * uploads, uncommitted blocks) that is older than `*(const int64_t *)arg` milliseconds. Never visible
 * objects. Backends with nothing to clean return 0.
 */
#define STKDR_CTL_ABORT_STALE_WRITES 2
/**
 * `ctl` op (object stores): places or removes an Object Lock legal hold on one object; `arg` is a
 * `stkdr_legal_hold *` (its `status_out` is set). While a hold is on, the object cannot be deleted
 * (::STKDR_EIMMUTABLE) whatever its retention, until the hold is removed. S3 needs a bucket created with
 * Object Lock enabled and the `s3:PutObjectLegalHold` / `s3:GetObjectLegalHold` permissions. Stores
 * without legal holds return ::STKDR_ENOTSUPPORTED; ::STKDR_ENOTFOUND if the object is absent. Since: 1.0.
 */
#define STKDR_CTL_LEGAL_HOLD 3

/** Current version of ::stkdr_legal_hold. */
#define STKDR_LEGAL_HOLD_VERSION 1
/** Static initialiser for ::stkdr_legal_hold (a query of the hold's status). */
#define STKDR_LEGAL_HOLD_INIT { STKDR_LEGAL_HOLD_VERSION, NULL, -1, 0 }

/** Argument of ::STKDR_CTL_LEGAL_HOLD. Ownership: `key` borrowed for the call. Since: 1.0. */
typedef struct stkdr_legal_hold {
	unsigned int version; /**< ::STKDR_LEGAL_HOLD_VERSION */
	const char *key;      /**< The object (relative key, as for open_write). */
	int set;              /**< 1: place the hold; 0: remove it; -1: only read its status. */
	int status_out;       /**< Set by the call: 1 if the object is under a legal hold now, else 0. */
} stkdr_legal_hold;

/**
 * Initialises `lh` to the defaults of structure version `version` (no key, set = -1: a status query).
 * @return 0, or ::STKDR_EVERSION. Since: 1.0.
 */
STKDR_API int stkdr_legal_hold_init(stkdr_legal_hold *lh, unsigned int version);

/** Storage tiers. */
typedef enum stkdr_tier {
	STKDR_TIER_HOT = 0,     /**< Standard / Hot. */
	STKDR_TIER_COLD = 1,    /**< Glacier Instant Retrieval / Cool. */
	STKDR_TIER_ARCHIVE = 2  /**< Deep Archive / Archive (may need a retrieval before reading). */
} stkdr_tier;

/** Retention modes for immutable objects. */
typedef enum stkdr_retain_mode {
	STKDR_RETAIN_NONE = 0,       /**< Not locked. */
	STKDR_RETAIN_GOVERNANCE = 1, /**< Locked; privileged callers may bypass. */
	STKDR_RETAIN_COMPLIANCE = 2  /**< Locked for everyone until retain-until. */
} stkdr_retain_mode;

/** Current version of ::stkdr_objinfo. */
#define STKDR_OBJINFO_VERSION 1

/** What the store knows of one object. Ownership: strings borrowed for the callback or call. Since: 1.0. */
typedef struct stkdr_objinfo {
	unsigned int version;    /**< ::STKDR_OBJINFO_VERSION */
	const char *key;         /**< Key relative to the store's root/prefix. */
	int64_t size;            /**< Bytes. */
	int has_sha256;          /**< 1 if `sha256` is known. */
	uint8_t sha256[32];      /**< SHA-256 of the bytes. */
	int64_t mtime_ms;        /**< Last-modified, Unix ms. */
	int retain_mode;         /**< A ::stkdr_retain_mode. */
	int64_t retain_until_ms; /**< Locked until then (Unix ms), 0 if not locked. */
	int tier;                /**< A ::stkdr_tier. */
} stkdr_objinfo;

/** Put flag: fail with ::STKDR_EEXISTS if the key exists (S3 `If-None-Match: *`). */
#define STKDR_PUT_CREATE_ONLY 0x1u
/** Delete flag: bypass GOVERNANCE retention (never COMPLIANCE). */
#define STKDR_DELETE_BYPASS_GOVERNANCE 0x1u

/** Current version of ::stkdr_put_options. */
#define STKDR_PUT_OPTIONS_VERSION 1
/** Static initialiser for ::stkdr_put_options. */
#define STKDR_PUT_OPTIONS_INIT { STKDR_PUT_OPTIONS_VERSION, 0, 0, 0, 0, -1, NULL }

/** Options for an object write. Since: 1.0. */
typedef struct stkdr_put_options {
	unsigned int version;        /**< ::STKDR_PUT_OPTIONS_VERSION */
	uint32_t flags;              /**< ::STKDR_PUT_CREATE_ONLY */
	int retain_mode;             /**< A ::stkdr_retain_mode. */
	int64_t retain_until_ms;     /**< With a retain mode: locked until then (Unix ms). */
	int tier;                    /**< Initial ::stkdr_tier. */
	int64_t size_hint;           /**< Expected size, or -1 if unknown (lets S3 choose multipart). */
	const uint8_t *expected_sha256; /**< If non-NULL (32 bytes): commit fails with ::STKDR_ECORRUPT on mismatch. */
} stkdr_put_options;

/**
 * Initialises `opts` to the defaults of structure version `version` (no flags, no retention, hot
 * tier, unknown size).
 * @return 0, or ::STKDR_EVERSION. Since: 1.0.
 */
STKDR_API int stkdr_put_options_init(stkdr_put_options *opts, unsigned int version);

typedef struct stkdr_objwriter stkdr_objwriter;

/**
 * A streamed write in progress. Exactly one of commit/abort ends it and frees it. Nothing is
 * visible under the key before commit returns 0; after abort or a failed commit nothing is.
 */
struct stkdr_objwriter {
	unsigned int version; /**< 1 */
	/** Appends bytes. */
	int STKDR_CALLBACK(write)(stkdr_objwriter *w, const uint8_t *data, size_t len);
	/** Makes the object visible atomically. `sha256_out` (32 bytes) may be NULL. Frees `w` in every case. */
	int STKDR_CALLBACK(commit)(stkdr_objwriter *w, uint8_t *sha256_out);
	/** Discards everything written. Frees `w`. */
	void STKDR_CALLBACK(abort)(stkdr_objwriter *w);
};

typedef struct stkdr_objreader stkdr_objreader;

/** A streamed read. `close` frees it. */
struct stkdr_objreader {
	unsigned int version; /**< 1 */
	/**
	 * Reads up to `cap` bytes; `*nread_out` 0 means end of object. On a whole-object read the stored
	 * SHA-256 is checked at the end: a mismatch fails with ::STKDR_ECORRUPT instead of returning 0 bytes.
	 */
	int STKDR_CALLBACK(read)(stkdr_objreader *r, uint8_t *buf, size_t cap, size_t *nread_out);
	/** Releases the reader. */
	void STKDR_CALLBACK(close)(stkdr_objreader *r);
};

/** Called per listed object, in ascending key order. Return 0 to go on, negative to stop (returned unchanged). */
typedef int STKDR_CALLBACK(stkdr_objinfo_cb)(const stkdr_objinfo *info, void *payload);

/** Current version of ::stkdr_lifecycle_rule. */
#define STKDR_LIFECYCLE_RULE_VERSION 1

/** One lifecycle rule: objects under `prefix` move to colder tiers with age. Since: 1.0. */
typedef struct stkdr_lifecycle_rule {
	unsigned int version;  /**< ::STKDR_LIFECYCLE_RULE_VERSION */
	const char *id;        /**< Rule name. */
	const char *prefix;    /**< Key prefix it applies to. */
	int64_t min_size;      /**< Only objects of at least this many bytes (0: all sizes, small ones too). */
	int64_t cold_after_days;    /**< Days after creation to ::STKDR_TIER_COLD, 0 for never. */
	int64_t archive_after_days; /**< Days after creation to ::STKDR_TIER_ARCHIVE, 0 for never. */
	int64_t expire_after_days;  /**< Days after creation to delete (subject to retention), 0 for never. */
} stkdr_lifecycle_rule;

/** Where an object in an archive tier stands (stkdr_objstore.restore_archived). */
typedef enum stkdr_retrieval_state {
	STKDR_RETRIEVAL_READABLE = 0,    /**< Readable now: not in an archive tier, or a retrieved copy is available. */
	STKDR_RETRIEVAL_IN_PROGRESS = 1, /**< A retrieval requested earlier has not completed yet. */
	STKDR_RETRIEVAL_STARTED = 2      /**< This call requested the retrieval. */
} stkdr_retrieval_state;

/** How fast (and at what price) an archive-tier object is retrieved. */
typedef enum stkdr_retrieval_speed {
	STKDR_RETRIEVAL_BULK = 0,     /**< The cheapest: S3 "Bulk" (Deep Archive: within 48 hours). */
	STKDR_RETRIEVAL_STANDARD = 1  /**< S3 "Standard" (Deep Archive: within 12 hours). */
} stkdr_retrieval_speed;

/** Current version of ::stkdr_objstore. */
#define STKDR_OBJSTORE_VERSION 2

typedef struct stkdr_objstore stkdr_objstore;

/**
 * Object store vtable. Keys are UTF-8, '/'-separated, relative, with no empty, "." or ".."
 * segments; the store maps them under its root or prefix. Writes are atomic; every object's SHA-256
 * is stored with it and checked on whole reads. Since: 1.0.
 */
struct stkdr_objstore {
	stkdr_backend base; /**< base.kind == ::STKDR_BACKEND_OBJSTORE, base.version == ::STKDR_OBJSTORE_VERSION */
	/* added in version 1 */
	/** Starts a streamed write. `opts` may be NULL. */
	int STKDR_CALLBACK(open_write)(stkdr_objwriter **out, stkdr_objstore *os, const char *key, const stkdr_put_options *opts);
	/** Starts a read of `length` bytes (-1: to the end) from `offset`. ::STKDR_ENOTFOUND if absent. */
	int STKDR_CALLBACK(open_read)(stkdr_objreader **out, stkdr_objstore *os, const char *key, int64_t offset, int64_t length);
	/** Describes one object; `out->key` is borrowed from `key`. ::STKDR_ENOTFOUND if absent. */
	int STKDR_CALLBACK(head)(stkdr_objinfo *out, stkdr_objstore *os, const char *key);
	/** Lists objects whose key starts with `prefix` and sorts after `start_after` (NULL: from the first). */
	int STKDR_CALLBACK(list)(stkdr_objstore *os, const char *prefix, const char *start_after, stkdr_objinfo_cb cb, void *payload);
	/** Deletes an object. ::STKDR_ENOTFOUND if absent; ::STKDR_EIMMUTABLE if under retention. */
	int STKDR_CALLBACK(del)(stkdr_objstore *os, const char *key, uint32_t flags);
	/** Moves one object to a tier. */
	int STKDR_CALLBACK(set_tier)(stkdr_objstore *os, const char *key, int tier);
	/** Replaces the store's lifecycle rules. */
	int STKDR_CALLBACK(set_lifecycle)(stkdr_objstore *os, const stkdr_lifecycle_rule *rules, size_t n_rules);
	/* added in version 2 */
	/**
	 * Makes an object of an archive tier readable. Reports in `*state_out` (a ::stkdr_retrieval_state)
	 * whether it can be read now (::STKDR_RETRIEVAL_READABLE, also for an object in no archive tier), and
	 * otherwise requests a retrieval at `speed` (a ::stkdr_retrieval_speed) of a readable copy kept for
	 * `days` days (::STKDR_RETRIEVAL_STARTED), unless one is already under way
	 * (::STKDR_RETRIEVAL_IN_PROGRESS). Never waits for the retrieval. Reading an archive-tier object
	 * that is not readable fails with ::STKDR_EPENDING. ::STKDR_ENOTFOUND if absent.
	 */
	int STKDR_CALLBACK(restore_archived)(stkdr_objstore *os, const char *key, int days, int speed, int *state_out);
};

/** Secret stages (bit flags on a version). */
#define STKDR_STAGE_CURRENT 0x1u
#define STKDR_STAGE_PREVIOUS 0x2u

/** Current version of ::stkdr_secret_version. */
#define STKDR_SECRET_VERSION_VERSION 1

/** One version of a secret. Ownership: borrowed for the callback. Since: 1.0. */
typedef struct stkdr_secret_version {
	unsigned int version;   /**< ::STKDR_SECRET_VERSION_VERSION */
	const char *version_id; /**< Opaque id. */
	int64_t created_ms;     /**< Unix ms. */
	uint32_t stages;        /**< ::STKDR_STAGE_CURRENT, ::STKDR_STAGE_PREVIOUS. */
} stkdr_secret_version;

/** Called per version, newest first. Return 0 to go on, negative to stop. */
typedef int STKDR_CALLBACK(stkdr_secret_version_cb)(const stkdr_secret_version *v, void *payload);

/** Current version of ::stkdr_secrets. */
#define STKDR_SECRETS_VERSION 1

typedef struct stkdr_secrets stkdr_secrets;

/**
 * Secrets vtable: named secrets with immutable versions; a put makes the new version CURRENT and the
 * old CURRENT PREVIOUS (Secrets Manager staging). Values are binary. Since: 1.0.
 */
struct stkdr_secrets {
	stkdr_backend base; /**< base.kind == ::STKDR_BACKEND_SECRETS */
	/* added in version 1 */
	/**
	 * Stores a new version. `client_token` (may be NULL) makes the call idempotent: the same token
	 * with the same value returns the existing version; with a different value ::STKDR_EEXISTS.
	 * `version_id_out` may be NULL.
	 */
	int STKDR_CALLBACK(put)(stkdr_buf *version_id_out, stkdr_secrets *s, const char *name, const uint8_t *value, size_t len, const char *client_token);
	/**
	 * Reads a version: by `version_id` if non-NULL, else by `stage` (::STKDR_STAGE_CURRENT or
	 * ::STKDR_STAGE_PREVIOUS). `version_id_out` may be NULL. ::STKDR_ENOTFOUND if absent.
	 */
	int STKDR_CALLBACK(get)(stkdr_buf *value_out, stkdr_buf *version_id_out, stkdr_secrets *s, const char *name, const char *version_id, uint32_t stage);
	/** Lists versions of a secret, newest first. ::STKDR_ENOTFOUND if the secret does not exist. */
	int STKDR_CALLBACK(list_versions)(stkdr_secrets *s, const char *name, stkdr_secret_version_cb cb, void *payload);
};

/** Current version of ::stkdr_dns_record. */
#define STKDR_DNS_RECORD_VERSION 1

/** One DNS record. Ownership: borrowed for the call or callback. Since: 1.0. */
typedef struct stkdr_dns_record {
	unsigned int version; /**< ::STKDR_DNS_RECORD_VERSION */
	const char *name;     /**< Fully qualified, without the trailing dot ("hub.santokit.com"). */
	const char *type;     /**< "A", "AAAA", "CNAME", "TXT". */
	const char *value;    /**< Record data. */
	int64_t ttl;          /**< Seconds. */
} stkdr_dns_record;

/** Called per record found. Return 0 to go on, negative to stop. */
typedef int STKDR_CALLBACK(stkdr_dns_record_cb)(const stkdr_dns_record *rec, void *payload);

/** Current version of ::stkdr_dns. */
#define STKDR_DNS_VERSION 1

typedef struct stkdr_dns stkdr_dns;

/** DNS vtable. Since: 1.0. */
struct stkdr_dns {
	stkdr_backend base; /**< base.kind == ::STKDR_BACKEND_DNS */
	/* added in version 1 */
	/** Creates or replaces the record set (name, type). `change_id_out` may be NULL. */
	int STKDR_CALLBACK(upsert)(stkdr_buf *change_id_out, stkdr_dns *d, const stkdr_dns_record *rec);
	/** Reads the records of (name, type); `type` NULL for all types. ::STKDR_ENOTFOUND if none. */
	int STKDR_CALLBACK(get)(stkdr_dns *d, const char *name, const char *type, stkdr_dns_record_cb cb, void *payload);
	/** Waits until a change is in sync everywhere, or ::STKDR_ETIMEOUT after `timeout_ms`. */
	int STKDR_CALLBACK(wait_sync)(stkdr_dns *d, const char *change_id, int64_t timeout_ms);
};

/** Current version of ::stkdr_dbprovider. */
#define STKDR_DBPROVIDER_VERSION 3

typedef struct stkdr_dbprovider stkdr_dbprovider;

/** Current version of ::stkdr_db_instance_info. */
#define STKDR_DB_INSTANCE_INFO_VERSION 1

/**
 * What a managed provider knows of one database instance. Ownership: strings belong to the provider
 * and stay valid until its next method call. Since: 1.0.
 */
typedef struct stkdr_db_instance_info {
	unsigned int version;         /**< ::STKDR_DB_INSTANCE_INFO_VERSION */
	const char *id;               /**< Instance identifier ("hub-prod"). */
	const char *status;           /**< The provider's status word ("creating", "backing-up", "available"...). */
	const char *host;             /**< Endpoint host name, "" while the instance has none yet. */
	int port;                     /**< Endpoint port, 0 while none. */
	int64_t latest_restorable_ms; /**< Latest time a point-in-time restore can reach (Unix ms), 0 if unknown. */
	const char *replica_source;   /**< For a read replica: the id of its source, else "". */
	int multi_az;                 /**< 1 if it has a synchronous standby (RDS Multi-AZ). */
	const char *engine;           /**< "postgres"... or "". */
} stkdr_db_instance_info;

/** Current version of ::stkdr_db_snapshot_info. */
#define STKDR_DB_SNAPSHOT_INFO_VERSION 2

/** One provider snapshot. Ownership: strings borrowed for the callback or call. Since: 1.0. */
typedef struct stkdr_db_snapshot_info {
	unsigned int version;   /**< ::STKDR_DB_SNAPSHOT_INFO_VERSION */
	const char *id;         /**< Snapshot identifier. */
	const char *instance;   /**< The instance it was taken of. */
	const char *status;     /**< "creating", "available"... */
	const char *type;       /**< "manual" or "automated". */
	int64_t created_ms;     /**< When it was taken (Unix ms), 0 while unknown. */
	int64_t size_bytes;     /**< Storage allocated to the instance it restores, 0 if unknown. */
	/* added in version 2 */
	const char *kind;       /**< The kind given to snapshot_create_tagged ("hourly"...), "" if none was stored. */
	int keep;               /**< 1 if stored with keep (never expired by policy), else 0. */
	const char *label;      /**< The label stored with it, or "". */
} stkdr_db_snapshot_info;

/** Called per provider snapshot, oldest first. Return 0 to go on, negative to stop (returned unchanged). */
typedef int STKDR_CALLBACK(stkdr_db_snapshot_cb)(const stkdr_db_snapshot_info *info, void *payload);

/** What stkdr_dbprovider.wait waits for. */
typedef enum stkdr_db_wait_kind {
	STKDR_DB_WAIT_INSTANCE = 0, /**< An instance's status. */
	STKDR_DB_WAIT_SNAPSHOT = 1, /**< A snapshot's status. */
	STKDR_DB_WAIT_GONE = 2      /**< An instance no longer exists (after delete or rename); `status` ignored. */
} stkdr_db_wait_kind;

/**
 * Database provider vtable: the operations of a managed database service (AWS RDS, Azure Flexible
 * Server) that the runbook's restore (2.1, 3.1) and failover (4.1, 4.2) procedures need. `local-postgres`
 * is not a backend of this kind: the library does that work itself. Every method names the instance or
 * snapshot it acts on; none of them waits unless it says so: the provider's work goes on in the
 * background, and the core waits with `wait`. Errors name the operation and the provider's error code
 * (backend_code): ::STKDR_ENOTFOUND for an unknown instance or snapshot, ::STKDR_EEXISTS for a name
 * taken, ::STKDR_EBACKEND for a state that forbids the operation. Since: 1.0.
 */
struct stkdr_dbprovider {
	stkdr_backend base; /**< base.kind == ::STKDR_BACKEND_DBPROVIDER */
	/* added in version 2 */
	/** Describes an instance into `out` (strings valid until the next call). ::STKDR_ENOTFOUND if absent. */
	int STKDR_CALLBACK(describe)(stkdr_db_instance_info *out, stkdr_dbprovider *p, const char *instance);
	/** Starts a snapshot `snapshot_id` of `instance` (runbook 2.1 manual backup); wait for "available". */
	int STKDR_CALLBACK(snapshot_create)(stkdr_dbprovider *p, const char *instance, const char *snapshot_id);
	/** Lists the snapshots of `instance` (NULL: of every instance), manual and automated, oldest first. */
	int STKDR_CALLBACK(snapshot_list)(stkdr_dbprovider *p, const char *instance, stkdr_db_snapshot_cb cb, void *payload);
	/** Deletes a manual snapshot. ::STKDR_ENOTFOUND if absent. */
	int STKDR_CALLBACK(snapshot_delete)(stkdr_dbprovider *p, const char *snapshot_id);
	/** Starts creating the NEW instance `new_instance` from a snapshot (runbook 3.1, corruption). */
	int STKDR_CALLBACK(restore_snapshot)(stkdr_dbprovider *p, const char *snapshot_id, const char *new_instance);
	/**
	 * Starts creating the NEW instance `new_instance` from `source` as of `time_ms` (Unix ms), or as
	 * of its latest restorable time when `time_ms` is 0 (runbook 3.1, accidental deletion).
	 */
	int STKDR_CALLBACK(restore_time)(stkdr_dbprovider *p, const char *source, const char *new_instance, int64_t time_ms);
	/** Starts creating a read replica `replica` of `source` (runbook 4.2 preparation). */
	int STKDR_CALLBACK(replica_create)(stkdr_dbprovider *p, const char *source, const char *replica);
	/** Starts promoting a read replica to a standalone primary (runbook 4.2). */
	int STKDR_CALLBACK(replica_promote)(stkdr_dbprovider *p, const char *replica);
	/** Reboots an instance; with `force_failover` 1 onto its standby (Multi-AZ failover, runbook 4.1). */
	int STKDR_CALLBACK(reboot)(stkdr_dbprovider *p, const char *instance, int force_failover);
	/** Renames an instance at once (its endpoint follows the name). ::STKDR_EEXISTS if `new_name` is taken. */
	int STKDR_CALLBACK(rename)(stkdr_dbprovider *p, const char *instance, const char *new_name);
	/** Starts deleting an instance; with `final_snapshot_id` non-NULL a last snapshot is taken first. */
	int STKDR_CALLBACK(delete_instance)(stkdr_dbprovider *p, const char *instance, const char *final_snapshot_id);
	/**
	 * Polls until the instance or snapshot `id` has `status` (a ::stkdr_db_wait_kind says which), or is
	 * gone (::STKDR_DB_WAIT_GONE), emitting ::STKDR_EVENT_PROGRESS "dbprovider.wait" with each status
	 * seen and logging changes. An instance not found is polled again for up to a minute (a new or
	 * renamed one may take a moment to appear), then ::STKDR_ENOTFOUND. ::STKDR_ETIMEOUT after
	 * `timeout_ms`, naming the id and the last status;
	 * ::STKDR_EBACKEND if it reaches a terminal failure status ("failed", "incompatible-restore"...).
	 * `out` (instances only, may be NULL) receives the last description.
	 */
	int STKDR_CALLBACK(wait)(stkdr_db_instance_info *out, stkdr_dbprovider *p, int kind, const char *id, const char *status, int64_t timeout_ms);
	/* added in version 3 */
	/**
	 * Like `snapshot_create`, and stores with the snapshot its `kind` ("manual", "hourly", "daily" or
	 * "monthly"), `keep` (1: never expired by policy) and `label` (may be NULL) (RDS: the tags
	 * `stkdr:kind`, `stkdr:keep`, `stkdr:label`), which `snapshot_list` reports back in
	 * ::stkdr_db_snapshot_info version 2. The core falls back to `snapshot_create` when this is NULL.
	 */
	int STKDR_CALLBACK(snapshot_create_tagged)(stkdr_dbprovider *p, const char *instance, const char *snapshot_id, const char *kind, int keep, const char *label);
};

/**
 * Initialises the head of a backend to zero, then sets `version`, `kind` and `name`.
 * @return 0, or ::STKDR_EINVAL for an unknown kind. Since: 1.0.
 */
STKDR_API int stkdr_backend_init(stkdr_backend *be, int kind, unsigned int version, const char *name);

/**
 * Registers a user-supplied backend with a context, which takes ownership (it calls `be->free` in
 * stkdr_ctx_free(), also when this call fails). The configuration selects it by `be->name` in the
 * section of its kind (`"objstore": {"backend": "<name>"}`); among backends of one kind and name, the
 * highest `priority` wins.
 * @return 0; ::STKDR_EINVAL for a NULL backend, missing name or `free`; ::STKDR_EVERSION for a vtable
 *         version this library does not know. Since: 1.0.
 */
STKDR_API int stkdr_ctx_add_backend(stkdr_ctx *ctx, stkdr_backend *be, int priority);

/**
 * Allocates memory with the library's allocator, for backends whose private data is freed by the
 * core or vice versa. Zero-filled. @return NULL on failure. Since: 1.0.
 */
STKDR_API void *stkdr_backend_data_alloc(size_t size);

/** Frees memory from stkdr_backend_data_alloc(). NULL is a no-op. Since: 1.0. */
STKDR_API void stkdr_backend_data_free(void *ptr);

STKDR_END_DECL

#endif
/** @} */
