/**
 * @file stkdr/global.h
 * @brief Library-wide initialisation, allocator hooks and version queries.
 * @defgroup stkdr_global Global state
 * @{
 */
#ifndef STKDR_GLOBAL_H
#define STKDR_GLOBAL_H

#include "common.h"

STKDR_BEGIN_DECL

/** Current version of ::stkdr_allocator. */
#define STKDR_ALLOCATOR_VERSION 1

/**
 * Memory hooks. All three must be thread-safe. `ud` is passed back to each. Since: 1.0.
 */
typedef struct stkdr_allocator {
	unsigned int version;                                      /**< ::STKDR_ALLOCATOR_VERSION */
	void *STKDR_CALLBACK(malloc_fn)(size_t size, void *ud);          /**< Like malloc(). */
	void *STKDR_CALLBACK(realloc_fn)(void *ptr, size_t size, void *ud); /**< Like realloc(). */
	void STKDR_CALLBACK(free_fn)(void *ptr, void *ud);               /**< Like free(); NULL is a no-op. */
	void *ud;                                                  /**< User data for the hooks. */
} stkdr_allocator;

/** Current version of ::stkdr_global_options. */
#define STKDR_GLOBAL_OPTIONS_VERSION 1
/** Static initialiser for ::stkdr_global_options. */
#define STKDR_GLOBAL_OPTIONS_INIT { STKDR_GLOBAL_OPTIONS_VERSION, NULL }

/** Options for stkdr_global_init(). Since: 1.0. */
typedef struct stkdr_global_options {
	unsigned int version;             /**< ::STKDR_GLOBAL_OPTIONS_VERSION */
	const stkdr_allocator *allocator; /**< NULL: the C library's malloc. Copied. Only honoured by the first init. */
} stkdr_global_options;

/**
 * Initialises `opts` to the defaults of structure version `version`.
 * @return 0, or ::STKDR_EVERSION if `version` is 0 or newer than this library. Since: 1.0.
 */
STKDR_API int stkdr_global_options_init(stkdr_global_options *opts, unsigned int version);

/**
 * Initialises the library (libcurl, cJSON hooks, the random generator). Reference-counted: every call
 * must be matched by stkdr_global_shutdown(). stkdr_ctx_new() calls it implicitly, so calling it is
 * needed only to install an allocator, which must happen before any handle exists.
 * @param opts NULL for defaults. Borrowed for the call.
 * @return the new reference count (>= 1), or ::STKDR_EVERSION / ::STKDR_EINVAL / ::STKDR_ERROR.
 * Thread-safety: shared. Since: 1.0.
 */
STKDR_API int stkdr_global_init(const stkdr_global_options *opts);

/**
 * Drops one reference; the last one releases global state.
 * @return the remaining count, or ::STKDR_ERROR if the library was not initialised.
 * Thread-safety: must not race with any other library call. Since: 1.0.
 */
STKDR_API int stkdr_global_shutdown(void);

/** The runtime version string ("1.0.0"). Never NULL. Thread-safety: shared. Since: 1.0. */
STKDR_API const char *stkdr_version(void);

/** The runtime version number (see ::STKDR_VERSION_NUMBER). Thread-safety: shared. Since: 1.0. */
STKDR_API int stkdr_version_number(void);

/**
 * Whether an optional feature was compiled in: "zstd", "s3", "azure", "postgres".
 * @return 1 if present, 0 otherwise. Thread-safety: shared. Since: 1.0.
 */
STKDR_API int stkdr_has_feature(const char *name);

STKDR_END_DECL

#endif
/** @} */
