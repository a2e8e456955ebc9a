/*
 * Versioned options structs (libgit2 tests/libgit2/core/structinit.c style).
 *
 * For every `stkdr_x` with STKDR_X_VERSION, STKDR_X_INIT and stkdr_x_init(opts, version):
 *   - the STKDR_X_INIT macro and stkdr_x_init(&o, STKDR_X_VERSION) give byte-identical structs
 *     (the function must clear the whole struct, padding included, then set the defaults);
 *   - every version 1..STKDR_X_VERSION initialises (returns 0 and stores that version);
 *   - version 0, STKDR_X_VERSION + 1 and UINT_MAX fail with STKDR_EVERSION.
 *
 * It uses only the public headers and the shared library, as a binding would. A new options struct
 * gets one STRUCTINIT line below; tests/abi/symbols.py fails until it has one.
 */
#include <stkdr/stkdr.h>
#include <stkdr/restore.h>
#include <stkdr/snapshot.h>
#include <stkdr/sys/backend.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
static int checks;

#define FAIL(...) \
	do { \
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
		failures++; \
	} while (0)

static void dump_diff(const char *name, const unsigned char *macro, const unsigned char *func, size_t size)
{
	size_t i;
	for (i = 0; i < size; i++) {
		if (macro[i] != func[i])
			fprintf(stderr, "  %s: byte %zu: macro 0x%02x, function 0x%02x\n", name, i, macro[i], func[i]);
	}
}

/*
 * STRUCTINIT(type, VERSION_MACRO, INIT_MACRO, init_function)
 *
 * `macro_val` has static storage so that its padding is zero (C11 6.7.9p10); `func_val` is filled
 * with a pattern first, so a function that forgets a field (or the padding) is caught.
 */
#define STRUCTINIT(type, version_macro, init_macro, init_fn) \
	do { \
		static const type macro_val = init_macro; \
		type func_val; \
		unsigned int v; \
		int rc; \
		checks++; \
		if (macro_val.version != (version_macro)) \
			FAIL("%s: " #init_macro " has version %u, " #version_macro " is %u", #type, \
				macro_val.version, (unsigned int)(version_macro)); \
		memset(&func_val, 0xA5, sizeof(func_val)); \
		rc = init_fn(&func_val, (version_macro)); \
		if (rc != 0) { \
			FAIL("%s: " #init_fn "(&o, " #version_macro ") returned %d (%s)", #type, rc, stkdr_error_name(rc)); \
		} else if (memcmp(&macro_val, &func_val, sizeof(type)) != 0) { \
			FAIL("%s: " #init_macro " differs from " #init_fn "(&o, " #version_macro ")", #type); \
			dump_diff(#type, (const unsigned char *)&macro_val, (const unsigned char *)&func_val, sizeof(type)); \
		} \
		for (v = 1; v <= (version_macro); v++) { \
			memset(&func_val, 0xA5, sizeof(func_val)); \
			rc = init_fn(&func_val, v); \
			if (rc != 0) \
				FAIL("%s: older version %u does not initialise: %d (%s)", #type, v, rc, stkdr_error_name(rc)); \
			else if (func_val.version != v) \
				FAIL("%s: " #init_fn "(&o, %u) stored version %u", #type, v, func_val.version); \
		} \
		{ \
			const unsigned int bad[3] = { 0u, (version_macro) + 1u, UINT_MAX }; \
			size_t i; \
			for (i = 0; i < 3; i++) { \
				rc = init_fn(&func_val, bad[i]); \
				if (rc != STKDR_EVERSION) \
					FAIL("%s: " #init_fn "(&o, %u) returned %d (%s), want STKDR_EVERSION", #type, bad[i], rc, \
						stkdr_error_name(rc)); \
			} \
		} \
	} while (0)

int main(void)
{
	STRUCTINIT(stkdr_global_options, STKDR_GLOBAL_OPTIONS_VERSION, STKDR_GLOBAL_OPTIONS_INIT,
		stkdr_global_options_init);
	STRUCTINIT(stkdr_ctx_options, STKDR_CTX_OPTIONS_VERSION, STKDR_CTX_OPTIONS_INIT, stkdr_ctx_options_init);
	STRUCTINIT(stkdr_snapshot_options, STKDR_SNAPSHOT_OPTIONS_VERSION, STKDR_SNAPSHOT_OPTIONS_INIT,
		stkdr_snapshot_options_init);
	STRUCTINIT(stkdr_verify_options, STKDR_VERIFY_OPTIONS_VERSION, STKDR_VERIFY_OPTIONS_INIT,
		stkdr_verify_options_init);
	STRUCTINIT(stkdr_restore_options, STKDR_RESTORE_OPTIONS_VERSION, STKDR_RESTORE_OPTIONS_INIT,
		stkdr_restore_options_init);
	STRUCTINIT(stkdr_put_options, STKDR_PUT_OPTIONS_VERSION, STKDR_PUT_OPTIONS_INIT, stkdr_put_options_init);
	STRUCTINIT(stkdr_legal_hold, STKDR_LEGAL_HOLD_VERSION, STKDR_LEGAL_HOLD_INIT, stkdr_legal_hold_init);
	STRUCTINIT(stkdr_wal_receive_options, STKDR_WAL_RECEIVE_OPTIONS_VERSION, STKDR_WAL_RECEIVE_OPTIONS_INIT,
		stkdr_wal_receive_options_init);
	STRUCTINIT(stkdr_keys_options, STKDR_KEYS_OPTIONS_VERSION, STKDR_KEYS_OPTIONS_INIT, stkdr_keys_options_init);
	STRUCTINIT(stkdr_keys_import_options, STKDR_KEYS_IMPORT_OPTIONS_VERSION, STKDR_KEYS_IMPORT_OPTIONS_INIT,
		stkdr_keys_import_options_init);
	STRUCTINIT(stkdr_jwt_sign_options, STKDR_JWT_SIGN_OPTIONS_VERSION, STKDR_JWT_SIGN_OPTIONS_INIT,
		stkdr_jwt_sign_options_init);
	STRUCTINIT(stkdr_jwt_verify_options, STKDR_JWT_VERIFY_OPTIONS_VERSION, STKDR_JWT_VERIFY_OPTIONS_INIT,
		stkdr_jwt_verify_options_init);
	STRUCTINIT(stkdr_keysync_options, STKDR_KEYSYNC_OPTIONS_VERSION, STKDR_KEYSYNC_OPTIONS_INIT,
		stkdr_keysync_options_init);

	STRUCTINIT(stkdr_audit_query, STKDR_AUDIT_QUERY_VERSION, STKDR_AUDIT_QUERY_INIT, stkdr_audit_query_init);
	/* Add new options structs here, one line each. */

	if (failures) {
		fprintf(stderr, "structinit: %d failure(s) in %d struct(s)\n", failures, checks);
		return 1;
	}
	printf("structinit: %d struct(s) OK\n", checks);
	return 0;
}
