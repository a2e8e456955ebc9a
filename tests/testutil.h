/* Helpers shared by the Check test programs. */
#ifndef STKDR_TESTUTIL_H
#define STKDR_TESTUTIL_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/internal.h"

/* Makes a fresh directory under $TMPDIR (or /tmp); returns a path to free with tu_rmtree_free(). */
char *tu_mkdtemp(const char *tag);
/* Removes the tree (rm -rf semantics, also read-only files) and frees the path. NULL is a no-op. */
void tu_rmtree_free(char *path);
/* Writes a whole file (mode 0644); ck_abort on failure. */
void tu_write_file(const char *path, const void *data, size_t len);
/* Reads a whole file into a new NUL-terminated buffer (stkdr__free); NULL if missing. */
char *tu_read_file(const char *path, size_t *len_out);
/* path join into a new string (stkdr__free). */
char *tu_path(const char *a, const char *b);
/* A context from JSON text with the environment ignored; ck_abort with the message on failure. */
stkdr_ctx *tu_ctx_json(const char *json);
/* Runs a Check suite; returns the process exit status (0 if all passed). */
int tu_run_suite(Suite *s);
/* Asserts rc == want and, on mismatch, shows the thread's/ctx's error message. */
#define tu_assert_rc(rc, want) \
	ck_assert_msg((rc) == (want), "rc=%d (%s) want %d (%s): %s", (int)(rc), stkdr_error_name(rc), (int)(want), \
		stkdr_error_name(want), stkdr__err_get()->message)
#define tu_assert_ok(rc) tu_assert_rc((rc), 0)
/* Asserts the thread-local error message contains `needle`. */
#define tu_assert_errmsg(needle) \
	ck_assert_msg(strstr(stkdr__err_get()->message, (needle)) != NULL, "error message \"%s\" lacks \"%s\"", \
		stkdr__err_get()->message, (needle))

/*
 * Allocation-failure sweeps. tu_enomem_install() initialises the library with an allocator that can
 * fail on demand (call it in a checked fixture, before anything else of the library); the sweep runs
 * `op` with its 1st, 2nd, ... allocation failing until a run completes without an injected failure,
 * calling `check(rc)` after each run (allocations no longer fail then) to assert nothing was left
 * half-done. tu_enomem_failed says whether the current run's injected failure happened.
 */
extern int tu_enomem_failed;
void tu_enomem_install(void);
void tu_enomem_uninstall(void);
void tu_enomem_sweep(int (*op)(void), void (*check)(int rc));

#endif
