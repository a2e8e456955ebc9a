/*
 * Fault injection for reliability tests: wrappers around an object store or a secrets backend that
 * forward every call (writers and readers are wrapped too) and make chosen calls fail, with the message
 * "injected fault: <method> call #N". A failing call is not forwarded, except that a failing commit
 * aborts the inner writer (nothing becomes visible). Internal; never used in production code paths.
 */
#ifndef STKDR_BACKENDS_FAULT_H
#define STKDR_BACKENDS_FAULT_H

#include "core/internal.h"

typedef struct stkdr__fault_options {
	int fail_nth;            /* fail the Nth matching call (1-based); 0 = never */
	int fail_every;          /* with fail_nth: also every Nth after it; 0 = once */
	int fail_percent;        /* 0..100, pseudo-random with `seed` */
	unsigned int seed;
	int fail_code;           /* the STKDR_E* returned, default (0) STKDR_EIO */
	/* Only calls of this method ("open_write", "write", "commit", "open_read", "read", "head", "list",
	 * "del", "set_tier", "set_lifecycle" for an object store; "put", "get", "list_versions" for secrets);
	 * NULL = all. Copied. */
	const char *method;
	int64_t cut_write_after; /* >0: the objwriter fails writes once this many bytes were written (a crash
	                          * mid-write); commit then fails and nothing is visible */
} stkdr__fault_options;

/*
 * Wraps `inner`, which the wrapper owns from this call on: it is freed with the wrapper, and also when
 * this call fails. The wrapper has the inner backend's name and version. `opts` may be NULL (no faults).
 * @return 0, STKDR_EINVAL for a NULL inner, an unknown method or out-of-range options, STKDR_ENOMEM.
 */
int stkdr__fault_objstore_new(stkdr_objstore **out, stkdr_objstore *inner, const stkdr__fault_options *opts);
int stkdr__fault_secrets_new(stkdr_secrets **out, stkdr_secrets *inner, const stkdr__fault_options *opts);

/* Matching calls seen so far by a fault wrapper (failed ones included); -1 if `be` is not one. */
int64_t stkdr__fault_calls(stkdr_backend *be);

#endif
