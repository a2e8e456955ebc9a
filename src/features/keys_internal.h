/* Signing keys and tokens: what keys.c shares with keysync.c and the tests. Internal. */
#ifndef STKDR_FEATURES_KEYS_INTERNAL_H
#define STKDR_FEATURES_KEYS_INTERNAL_H

#include "core/internal.h"
#include "stkdr/keys.h"

#include <cjson/cJSON.h>
#include <mbedtls/pk.h>

/* A kid (base64url SHA-256: 43 characters) with room to spare. */
#define STKDR__KID_MAX 80

const char *stkdr__key_alg_name(int alg);
int stkdr__key_alg_parse(const char *s);
/* The public JWK of `pk` (kty, crv/x/y or n/e, kid, alg, use) and its RFC 7638 kid. */
int stkdr__key_jwk(cJSON **jwk_out, char kid_out[STKDR__KID_MAX], mbedtls_pk_context *pk, int alg);
/* A public key from a JWK, checked (curve, size, kid == thumbprint). `pk` initialised by the caller. */
int stkdr__key_from_jwk(mbedtls_pk_context *pk, int *alg_out, char kid_out[STKDR__KID_MAX], const cJSON *jwk);
/* The JWKS of the verifying keys (no ctx_result). */
int stkdr__keys_jwks(stkdr_buf *out, stkdr_ctx *ctx, const char *project, const char *env);
int stkdr__jwt_verifier_new(stkdr_jwt_verifier **out, const char *jwks, size_t len);
int stkdr__jwt_verify(stkdr_buf *claims_out, stkdr_ctx *ctx, const stkdr_jwt_verifier *v, const char *token,
	const stkdr_jwt_verify_options *opts);

#endif
