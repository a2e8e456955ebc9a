/**
 * @file stkdr/errors.h
 * @brief Return codes, error classes and error detail.
 * @defgroup stkdr_errors Errors
 *
 * Every fallible function returns `int`: 0 on success, a negative ::stkdr_error_code otherwise.
 * Detail (class, backend code, message) is scoped to the handle the call was made on and is read with
 * stkdr_ctx_last_error(); constructors, which have no handle yet, leave it in the thread-local
 * stkdr_error_last().
 *
 * The enum is append-only: values are never renumbered or reused (retired codes become
 * `STKDR_EOBSOLETEnn`).
 * @{
 */
#ifndef STKDR_ERRORS_H
#define STKDR_ERRORS_H

#include "common.h"

STKDR_BEGIN_DECL

/** Return codes. Since: 1.0. */
typedef enum stkdr_error_code {
	STKDR_OK = 0,              /**< Success. */
	STKDR_ERROR = -1,          /**< Generic failure; see the message. */
	STKDR_EINVAL = -2,         /**< Invalid argument, configuration or input. */
	STKDR_ENOTFOUND = -3,      /**< The object, snapshot, secret, record or key does not exist. */
	STKDR_EEXISTS = -4,        /**< It exists already (create-only write, conflicting content). */
	STKDR_EIO = -5,            /**< Local I/O failure (read, write, fsync, rename). */
	STKDR_ECORRUPT = -6,       /**< Stored data fails its checksum, signature or format check. */
	STKDR_EAUTH = -7,          /**< Authentication or authorisation refused (credentials, master key). */
	STKDR_ETIMEOUT = -8,       /**< A deadline passed. */
	STKDR_EBACKEND = -9,       /**< The remote service (PostgreSQL, AWS, Azure) reported an error. */
	STKDR_ELOCKED = -10,       /**< A lease is held by someone else. */
	STKDR_EIMMUTABLE = -11,    /**< The object is under retention and cannot be changed or deleted. */
	STKDR_ENOTSUPPORTED = -12, /**< The backend or its version does not offer the operation. */
	STKDR_ECANCELLED = -13,    /**< A callback asked to stop. */
	STKDR_EVERSION = -14,      /**< A struct or format version the library does not know. */
	STKDR_ENOMEM = -15,        /**< Out of memory. */
	STKDR_ENOSPACE = -16,      /**< The target storage is full. */
	STKDR_EPENDING = -17,      /**< Not available yet: the data is in an archive storage tier and its retrieval
	                                was started (or is under way); retry when it completes. */
	STKDR_EUSER = -30          /**< Reserved for user callbacks; never returned by the library itself. */
} stkdr_error_code;

/** Where an error came from. Since: 1.0. */
typedef enum stkdr_error_class {
	STKDR_ERRCLASS_NONE = 0,     /**< No error. */
	STKDR_ERRCLASS_OS = 1,       /**< The operating system (backend_code is the errno name). */
	STKDR_ERRCLASS_NET = 2,      /**< Network transport (backend_code is the libcurl code name). */
	STKDR_ERRCLASS_CONFIG = 3,   /**< The configuration (the message names the field). */
	STKDR_ERRCLASS_LOCAL = 4,    /**< A local backend. */
	STKDR_ERRCLASS_AWS = 5,      /**< An AWS service (backend_code is the AWS error code). */
	STKDR_ERRCLASS_AZURE = 6,    /**< An Azure service (backend_code is the Azure error code). */
	STKDR_ERRCLASS_POSTGRES = 7, /**< PostgreSQL (backend_code is the SQLSTATE). */
	STKDR_ERRCLASS_CRYPTO = 8,   /**< Cryptography (wrong key, bad signature). */
	STKDR_ERRCLASS_CALLBACK = 9, /**< A user callback returned non-zero. */
	STKDR_ERRCLASS_FORMAT = 10,  /**< A stored or supplied document is malformed. */
	STKDR_ERRCLASS_INTERNAL = 11 /**< A library invariant failed (a bug: please report). */
} stkdr_error_class;

/**
 * Error detail. Ownership: borrowed, owned by the library — valid until the next call on the same
 * handle (or, for stkdr_error_last(), the next library call on the same thread). Since: 1.0.
 */
typedef struct stkdr_error {
	int code;                 /**< A ::stkdr_error_code. */
	int klass;                /**< A ::stkdr_error_class. */
	const char *backend_code; /**< Provider code ("NoSuchKey", "ENOENT", "57P01"), or "" if none. Never NULL. */
	const char *message;      /**< Human-readable, names what was wrong and what to do. Never NULL. */
} stkdr_error;

/**
 * Static text for a return code.
 * @param code a ::stkdr_error_code (unknown values give "unknown error").
 * @return a static string; never NULL.
 * Thread-safety: shared. Since: 1.0.
 */
STKDR_API const char *stkdr_strerror(int code);

/**
 * Short stable name of a return code ("STKDR_ENOTFOUND"), for logs and bindings.
 * @return a static string; never NULL. Thread-safety: shared. Since: 1.0.
 */
STKDR_API const char *stkdr_error_name(int code);

/**
 * The error left on this thread by the last failing call that had no handle to scope it to
 * (constructors such as stkdr_ctx_new()).
 * @return borrowed; never NULL (code 0 and message "" when there is none). Valid until the next
 *         library call on this thread. Thread-safety: thread-local. Since: 1.0.
 */
STKDR_API const stkdr_error *stkdr_error_last(void);

/** Clears this thread's error. Thread-safety: thread-local. Since: 1.0. */
STKDR_API void stkdr_error_clear(void);

STKDR_END_DECL

#endif
/** @} */
