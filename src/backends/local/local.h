/*
 * The "local" backends: an object store in a directory tree, versioned secrets in a directory, DNS
 * records in a JSON file. Used for self-hosted deployments, for tests, and as the reference
 * implementation of the vtables in stkdr/sys/backend.h. Internal.
 *
 * The shared filesystem helpers at the end are implemented in objstore.c.
 */
#ifndef STKDR_BACKENDS_LOCAL_H
#define STKDR_BACKENDS_LOCAL_H

#include "core/internal.h"

#include <sys/types.h>

/*
 * Object store rooted at `root` (created with its parents if missing, mode 0750). The layout and the
 * crash-safety argument are described at the top of objstore.c. Backend name "local".
 * Ownership: *out is owned by the caller, released with (*out)->base.free(). `root` is copied.
 */
int stkdr__local_objstore_new(stkdr_objstore **out, const char *root);

/*
 * Versioned secrets in `dir` (created if missing, mode 0700), every version sealed with AES-256-GCM
 * under `master_key` (copied, wiped on free). Layout at the top of secrets.c. Backend name "local".
 */
int stkdr__local_secrets_new(stkdr_secrets **out, const char *dir, const uint8_t master_key[32]);

/* DNS records in the JSON file `path` (a missing file holds no records). Backend name "local". */
int stkdr__local_dns_new(stkdr_dns **out, const char *path);

/*
 * objstore ctl op: removes the temporary files of interrupted writes and metadata sidecars whose data
 * file is missing. `arg` NULL removes all of them (only when no writer is running on this repository);
 * otherwise `arg` is a `const int64_t *` minimum age in milliseconds (the list path uses one hour).
 */
#define STKDR__CTL_LOCAL_CLEAN_TEMP STKDR_CTL_ABORT_STALE_WRITES

/* Age after which the list path removes leftovers of interrupted writes. */
#define STKDR__LOCAL_STALE_MS (3600 * 1000LL)

/* `tier` reported by stkdr__local_objstore_lifecycle_plan() for an object that would be deleted. */
#define STKDR__LOCAL_PLAN_EXPIRE (-1)

/*
 * Reports, in ascending key order, the objects that the store's lifecycle rules (set_lifecycle) would
 * act on at `now_ms`: `info->tier` is the target tier (colder than the current one), or
 * STKDR__LOCAL_PLAN_EXPIRE for an object whose expiry has come (objects still under retention are not
 * reported for expiry). Nothing is changed. A store without rules reports nothing.
 * @return 0, the callback's negative value, STKDR_EINVAL if `os` is not a local object store,
 *         STKDR_ECORRUPT if the rules file is malformed.
 */
int stkdr__local_objstore_lifecycle_plan(stkdr_objstore *os, int64_t now_ms, stkdr_objinfo_cb cb, void *payload);

/* ---- filesystem helpers shared by the local backends (objstore.c) ---- */

/*
 * Sets an OS error for `err` with the message "<what>: <strerror>", and adds what to do for permission
 * (names `path`), read-only and full-filesystem errors. Returns the STKDR_E* code.
 */
int stkdr__local_oserr(int err, const char *path, const char *what);
/* Creates `path` and its missing parents with `mode`, fsyncing each parent of a new directory. */
int stkdr__local_mkdirs(const char *path, mode_t mode);
/* fsync() of the directory `path`. */
int stkdr__local_fsync_dir(const char *path);
/* Writes all of `len` bytes (retrying short writes and EINTR); on failure sets the error naming `path`. */
int stkdr__local_write_all(int fd, const void *data, size_t len, const char *path);
/* `n` random bytes as 2n lowercase hex digits into `out` (2n+1 bytes). */
int stkdr__local_random_hex(char *out, size_t n);
/*
 * Creates `path` atomically: writes a temporary file beside it (".stkdr-tmp.<random>", mode `mode`),
 * fsyncs it, renames it over `path` (or, with `create_only`, links it: STKDR_EEXISTS if `path` exists)
 * and fsyncs the directory.
 */
int stkdr__local_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, int create_only);
/*
 * Reads a whole file of at most `max` bytes into `out` (replaced). STKDR_ENOTFOUND if it does not
 * exist (error set naming `path`), STKDR_ECORRUPT if it is larger than `max`.
 */
int stkdr__local_read_file(stkdr_buf *out, const char *path, size_t max);
/* The directory part of `path` ("." if none), new string (stkdr__free); NULL on ENOMEM. */
char *stkdr__local_dirname(const char *path);

#endif
