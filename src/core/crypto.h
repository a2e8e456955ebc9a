/* Cryptography over mbedTLS 2.28: SHA-256, HMAC, AES-256-GCM sealing, CSPRNG, encodings. Internal. */
#ifndef STKDR_CORE_CRYPTO_H
#define STKDR_CORE_CRYPTO_H

#include "internal.h"
/* SHA-256 (src/core/sha256.c): SHA-NI on x86-64 CPUs that have it, portable C elsewhere. */
typedef struct stkdr__sha256_ctx {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t nbuf;
} stkdr__sha256_ctx;
/* 1 if the hardware path is in use. */
int stkdr__sha256_accelerated(void);
/* Tests: 1 forces the portable path, 0 restores the best one. */
void stkdr__sha256_force_portable(int portable);

void stkdr__sha256_init(stkdr__sha256_ctx *c);
void stkdr__sha256_update(stkdr__sha256_ctx *c, const void *data, size_t len);
void stkdr__sha256_final(stkdr__sha256_ctx *c, uint8_t out[32]); /* also frees c */
void stkdr__sha256(const void *data, size_t len, uint8_t out[32]);
void stkdr__hmac_sha256(const uint8_t *key, size_t key_len, const void *data, size_t len, uint8_t out[32]);

/* Cryptographically secure random bytes (CTR-DRBG seeded from the OS entropy, per-thread). */
int stkdr__random(uint8_t *out, size_t len);

/* Constant-time comparison: 0 if equal. */
int stkdr__ct_memcmp(const void *a, const void *b, size_t len);

/*
 * Authenticated encryption, format "STKE" v1 (docs/formats.md):
 *   magic "STKE" | u8 version=1 | u8 key_id_len | key_id | 12-byte nonce | ciphertext | 16-byte tag
 * AES-256-GCM; the additional data is the caller's `aad` (e.g. the object key or secret name),
 * binding the ciphertext to where it belongs. key_id (may be NULL/"") names the wrapping key for
 * rotation and is authenticated too. The GCM additional data is the header (magic through nonce)
 * followed by the caller's `aad`. Sealed output and opened plaintext are appended to `out` (nothing is
 * appended on failure).
 */
int stkdr__seal(stkdr_buf *out, const uint8_t key[32], const char *key_id, const void *aad, size_t aad_len,
		const void *plain, size_t plain_len);
/* Fails with STKDR_EAUTH (class CRYPTO) on a wrong key or tampered data, STKDR_ECORRUPT on bad framing. */
int stkdr__open(stkdr_buf *out, const uint8_t key[32], const void *aad, size_t aad_len, const void *sealed,
		size_t sealed_len);
/* Reads the key_id of a sealed blob without decrypting (borrowed into `out`, NUL-terminated, max 255). */
int stkdr__sealed_key_id(char out[256], const void *sealed, size_t sealed_len);

/* Hex (lowercase). out must hold 2*len+1. */
void stkdr__hex_encode(char *out, const uint8_t *in, size_t len);
/* Exactly 2*out_len hex digits expected; EINVAL otherwise. */
int stkdr__hex_decode(uint8_t *out, size_t out_len, const char *hex);

/* Base64 (RFC 4648). url=1: URL alphabet without padding (JWS). Both append to `out`. Decoding rejects bad
 * characters and non-canonical input (non-zero unused bits); '=' padding is optional in both alphabets but
 * must be complete when present. */
int stkdr__b64_encode(stkdr_buf *out, const void *in, size_t len, int url);
int stkdr__b64_decode(stkdr_buf *out, const char *in, size_t len, int url);

#endif
