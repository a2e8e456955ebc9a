/**
 * @file stkdr/ctx.h
 * @brief The context: configuration, error detail, logging and events.
 * @defgroup stkdr_ctx Context
 *
 * A ::stkdr_ctx holds one deployment's configuration and the backends opened from it. Every feature
 * call takes one. Thread-safety: one thread at a time per context; a context may move between
 * threads. Distinct contexts may be used concurrently.
 * @{
 */
#ifndef STKDR_CTX_H
#define STKDR_CTX_H

#include "common.h"
#include "errors.h"
#include "buf.h"

STKDR_BEGIN_DECL

/** Opaque context. Create with stkdr_ctx_new(), release with stkdr_ctx_free(). */
typedef struct stkdr_ctx stkdr_ctx;

/** Do not apply `STKDR_<SECTION>_<KEY>` environment overrides. */
#define STKDR_CTX_NO_ENV 0x1u
/** Do not read `$STKDR_CONFIG` when neither a path nor JSON text is given (start from defaults). */
#define STKDR_CTX_NO_DEFAULT_FILE 0x2u

/** Current version of ::stkdr_ctx_options. */
#define STKDR_CTX_OPTIONS_VERSION 1
/** Static initialiser for ::stkdr_ctx_options. */
#define STKDR_CTX_OPTIONS_INIT { STKDR_CTX_OPTIONS_VERSION, NULL, NULL, 0 }

/** Options for stkdr_ctx_new(). Since: 1.0. */
typedef struct stkdr_ctx_options {
	unsigned int version;    /**< ::STKDR_CTX_OPTIONS_VERSION */
	const char *config_path; /**< JSON configuration file; NULL: `$STKDR_CONFIG` if set. Borrowed. */
	const char *config_json; /**< JSON configuration text; takes precedence over config_path. Borrowed. */
	uint32_t flags;          /**< ::STKDR_CTX_NO_ENV, ::STKDR_CTX_NO_DEFAULT_FILE. */
} stkdr_ctx_options;

/**
 * Initialises `opts` to the defaults of structure version `version`.
 * @return 0, or ::STKDR_EVERSION. Since: 1.0.
 */
STKDR_API int stkdr_ctx_options_init(stkdr_ctx_options *opts, unsigned int version);

/**
 * Creates a context: reads and parses the configuration (file or text), applies environment
 * overrides, and type-checks every known key. Backends are opened lazily, on first use.
 * Semantic problems (a missing required key for the chosen backend) are reported by stkdr_ctx_check()
 * and by the first call that needs the key, not here.
 * @param[out] out the new context. Ownership: owned — free with stkdr_ctx_free().
 * @param opts NULL for defaults. Borrowed for the call.
 * @return 0; ::STKDR_ENOTFOUND if the file does not exist; ::STKDR_EINVAL for an unreadable file or malformed JSON or a key of the wrong type (the
 *         message in stkdr_error_last() names the file, line and field); ::STKDR_EVERSION; ::STKDR_ENOMEM.
 * Thread-safety: shared. Since: 1.0.
 */
STKDR_API int stkdr_ctx_new(stkdr_ctx **out, const stkdr_ctx_options *opts);

/** Releases a context and every backend it opened or was given. NULL is a no-op. Since: 1.0. */
STKDR_API void stkdr_ctx_free(stkdr_ctx *ctx);

/**
 * Detail of the last failure on this context.
 * @return borrowed; never NULL (code 0 when the last call succeeded). Valid until the next call on `ctx`.
 * Since: 1.0.
 */
STKDR_API const stkdr_error *stkdr_ctx_last_error(const stkdr_ctx *ctx);

/**
 * Sets a configuration key (dotted path, e.g. "objstore.path") from a string. For integer and boolean
 * keys the string is parsed ("30", "true"); durations accept "30s", "15m", "24h", "7d".
 * Takes effect for backends opened afterwards.
 * @return 0; ::STKDR_EINVAL for an unknown key or a value of the wrong type (the message names both).
 * Since: 1.0.
 */
STKDR_API int stkdr_ctx_set_str(stkdr_ctx *ctx, const char *key, const char *value);

/** Sets an integer configuration key. @return 0 or ::STKDR_EINVAL. Since: 1.0. */
STKDR_API int stkdr_ctx_set_int64(stkdr_ctx *ctx, const char *key, int64_t value);

/**
 * Reads a configuration key as text (integers in decimal, booleans as "true"/"false"), with its
 * default applied. Secret-bearing keys are never returned in clear.
 * @param[out] out receives the value. Ownership: caller disposes with stkdr_buf_dispose().
 * @return 0; ::STKDR_ENOTFOUND if the key is unset and has no default; ::STKDR_EINVAL if unknown.
 * Since: 1.0.
 */
STKDR_API int stkdr_ctx_get_str(stkdr_buf *out, stkdr_ctx *ctx, const char *key);

/** Reads an integer key (durations in milliseconds). @return 0, ::STKDR_ENOTFOUND or ::STKDR_EINVAL. Since: 1.0. */
STKDR_API int stkdr_ctx_get_int64(int64_t *out, stkdr_ctx *ctx, const char *key);

/**
 * Called once per configuration problem found by stkdr_ctx_check().
 * @param field dotted path of the field ("postgres.conninfo"), or "" for the document. Borrowed for the call.
 * @param message what is wrong and what to do. Borrowed for the call.
 * @param payload the caller's pointer.
 * @return 0 to continue, negative to stop (returned unchanged by stkdr_ctx_check()).
 */
typedef int STKDR_CALLBACK(stkdr_config_problem_cb)(const char *field, const char *message, void *payload);

/**
 * Validates the whole configuration: unknown keys, wrong types, values out of range, keys required by
 * the chosen backends, unreadable paths. Every problem is reported, not only the first.
 * @param cb called per problem; may be NULL. Invoked on the calling thread; must not re-enter `ctx`.
 * @return 0 if valid; ::STKDR_EINVAL if there were problems (the message gives the count and the
 *         first one); a negative value returned by `cb`.
 * Since: 1.0.
 */
STKDR_API int stkdr_ctx_check(stkdr_ctx *ctx, stkdr_config_problem_cb cb, void *payload);

/**
 * The effective configuration (file + environment + setters + defaults) as indented JSON, with
 * secret-bearing values replaced by "<redacted>".
 * @param[out] out Ownership: caller disposes with stkdr_buf_dispose().
 * @return 0 or ::STKDR_ENOMEM. Since: 1.0.
 */
STKDR_API int stkdr_ctx_config_json(stkdr_buf *out, stkdr_ctx *ctx);

/** Current version of ::stkdr_config_key. */
#define STKDR_CONFIG_KEY_VERSION 1

/**
 * Description of one configuration key, for introspection (`stk config keys`, bindings, docs).
 * Ownership: static, borrowed for the life of the process. Since: 1.0.
 */
typedef struct stkdr_config_key {
	unsigned int version;      /**< ::STKDR_CONFIG_KEY_VERSION */
	const char *key;           /**< Dotted path ("objstore.path"). */
	const char *type;          /**< "string", "integer", "boolean", "duration", "enum", "time". */
	const char *default_value; /**< Default as text, or NULL if none. */
	const char *choices;       /**< For enums: "a|b|c"; otherwise NULL. */
	const char *env;           /**< Overriding environment variable ("STKDR_OBJSTORE_PATH"). */
	const char *required_when; /**< "always", "objstore.backend=local", or NULL if optional. */
	const char *description;   /**< One line. */
	int secret;                /**< 1 if the value is never shown in clear. */
} stkdr_config_key;

/**
 * The `index`-th known configuration key (0-based), in documentation order.
 * @return borrowed static description, or NULL past the last key. Thread-safety: shared. Since: 1.0.
 */
STKDR_API const stkdr_config_key *stkdr_config_key_at(size_t index);

/** Log levels, mirroring git_trace_level_t. */
typedef enum stkdr_log_level {
	STKDR_LOG_NONE = 0,  /**< Nothing. */
	STKDR_LOG_FATAL = 1, /**< The operation cannot go on. */
	STKDR_LOG_ERROR = 2, /**< An operation failed. */
	STKDR_LOG_WARN = 3,  /**< Something the operator should look at. */
	STKDR_LOG_INFO = 4,  /**< Milestones of an operation. */
	STKDR_LOG_DEBUG = 5, /**< Detail for diagnosis (redacted requests). */
	STKDR_LOG_TRACE = 6  /**< Everything. */
} stkdr_log_level;

/**
 * Receives one pre-formatted log line. Never contains secrets.
 * @param level a ::stkdr_log_level.
 * @param component the module ("snapshot", "objstore.local"). Borrowed for the call.
 * @param msg the message, without trailing newline. Borrowed for the call.
 * @param payload the caller's pointer.
 * Invoked on the thread making the library call; must not re-enter the context.
 */
typedef void STKDR_CALLBACK(stkdr_log_cb)(int level, const char *component, const char *msg, void *payload);

/**
 * Installs (or with `cb` NULL removes) the log callback. Messages above `min_level` are not even
 * formatted. Since: 1.0.
 */
STKDR_API void stkdr_ctx_set_log_callback(stkdr_ctx *ctx, int min_level, stkdr_log_cb cb, void *payload);

/** Event types. Append-only. */
typedef enum stkdr_event_type {
	STKDR_EVENT_PROGRESS = 1, /**< An operation advanced (`done`/`total` set; `total` is -1 if unknown). */
	STKDR_EVENT_ACTION = 2,   /**< A DR action happened (journalled: snapshot taken, segment archived, failover step...). */
	STKDR_EVENT_RESULT = 3    /**< A check finished (verification, drill step) with `ok` set. */
} stkdr_event_type;

/** Current version of ::stkdr_event. */
#define STKDR_EVENT_VERSION 1

/**
 * One structured event. Ownership: borrowed for the duration of the callback; copy what you keep.
 * Since: 1.0.
 */
typedef struct stkdr_event {
	unsigned int version;    /**< ::STKDR_EVENT_VERSION; fields beyond it are appended later. */
	int type;                /**< A ::stkdr_event_type. */
	const char *name;        /**< Dotted name: "snapshot.created", "wal.pushed", "restore.started"... */
	const char *subject;     /**< What it is about (snapshot id, segment name), or "". */
	int64_t time_ms;         /**< Unix time in milliseconds. */
	int64_t done;            /**< Progress: units done (bytes unless the name says otherwise). */
	int64_t total;           /**< Progress: units in all, or -1 if unknown. */
	int ok;                  /**< For results: 1 passed, 0 failed. */
	const char *detail_json; /**< A JSON object with event-specific fields ("{}" if none). */
} stkdr_event;

/**
 * Receives events. For ::STKDR_EVENT_PROGRESS a negative return cancels the operation, which then
 * fails with that value (use ::STKDR_EUSER or ::STKDR_ECANCELLED); other events ignore the return.
 * Invoked on the thread making the library call; must not re-enter the context.
 */
typedef int STKDR_CALLBACK(stkdr_event_cb)(const stkdr_event *event, void *payload);

/** Installs (or with `cb` NULL removes) the event callback. Since: 1.0. */
STKDR_API void stkdr_ctx_set_event_callback(stkdr_ctx *ctx, stkdr_event_cb cb, void *payload);

STKDR_END_DECL

#endif
/** @} */
