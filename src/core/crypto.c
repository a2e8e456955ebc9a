/* Cryptography over mbedTLS 2.28: SHA-256, HMAC-SHA256, AES-256-GCM sealing, CSPRNG, hex and base64. */
#include "crypto.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/gcm.h>
#include <mbedtls/md.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define SEAL_MAGIC "STKE"
#define SEAL_VERSION 1
#define SEAL_NONCE_LEN 12
#define SEAL_TAG_LEN 16
/* magic | version | key_id_len */
#define SEAL_FIXED_LEN 6

/* ---- SHA-256 and HMAC ---- */

void stkdr__sha256(const void *data, size_t len, uint8_t out[32])
{
	stkdr__sha256_ctx c;
	stkdr__sha256_init(&c);
	stkdr__sha256_update(&c, data, len);
	stkdr__sha256_final(&c, out);
}

void stkdr__hmac_sha256(const uint8_t *key, size_t key_len, const void *data, size_t len, uint8_t out[32])
{
	/* Cannot fail: SHA-256 is always compiled in and mbedtls_md_hmac only fails on a NULL md_info. */
	static const uint8_t empty[1];
	(void)mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key ? key : empty, key_len,
		data ? data : empty, len, out);
}

/* ---- CSPRNG: one CTR-DRBG per thread, reseeded in a forked child ---- */

typedef struct rng_state {
	int seeded;
	pid_t pid;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
} rng_state;

static _Thread_local rng_state tls_rng;
static pthread_once_t rng_once = PTHREAD_ONCE_INIT;
static pthread_key_t rng_key;
static int rng_key_ok;

/* Thread exit: wipe the DRBG state (the main thread's state lives until process exit). */
static void rng_thread_exit(void *p)
{
	rng_state *r = p;
	if (r && r->seeded) {
		mbedtls_ctr_drbg_free(&r->drbg);
		mbedtls_entropy_free(&r->entropy);
		r->seeded = 0;
	}
}

static void rng_key_create(void)
{
	rng_key_ok = pthread_key_create(&rng_key, rng_thread_exit) == 0;
}

static int rng_fail(const char *what, int mret)
{
	char code[32];
	snprintf(code, sizeof code, "-0x%04x", (unsigned)-mret);
	return stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_CRYPTO, code,
		"random: %s failed (mbedTLS error -0x%04x); the OS entropy source may be unavailable", what,
		(unsigned)-mret);
}

static int rng_get(rng_state **out)
{
	rng_state *r = &tls_rng;
	pid_t pid = getpid();
	int mret;

	if (!r->seeded) {
		pthread_once(&rng_once, rng_key_create);
		mbedtls_entropy_init(&r->entropy);
		mbedtls_ctr_drbg_init(&r->drbg);
		struct {
			char tag[8];
			pid_t pid;
			void *self;
		} pers;
		memset(&pers, 0, sizeof pers);
		memcpy(pers.tag, "stkdrrng", 8);
		pers.pid = pid;
		pers.self = r;
		mret = mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy, (const unsigned char *)&pers,
			sizeof pers);
		if (mret != 0) {
			mbedtls_ctr_drbg_free(&r->drbg);
			mbedtls_entropy_free(&r->entropy);
			return rng_fail("seeding the CTR-DRBG", mret);
		}
		r->seeded = 1;
		r->pid = pid;
		if (rng_key_ok)
			pthread_setspecific(rng_key, r);
	} else if (r->pid != pid) {
		/* A forked child must not replay the parent's stream. */
		mret = mbedtls_ctr_drbg_reseed(&r->drbg, (const unsigned char *)&pid, sizeof pid);
		if (mret != 0)
			return rng_fail("reseeding the CTR-DRBG after fork", mret);
		r->pid = pid;
	}
	*out = r;
	return 0;
}

int stkdr__random(uint8_t *out, size_t len)
{
	rng_state *r;
	int rc = rng_get(&r);
	if (rc)
		return rc;
	while (len > 0) {
		size_t n = len < MBEDTLS_CTR_DRBG_MAX_REQUEST ? len : MBEDTLS_CTR_DRBG_MAX_REQUEST;
		/* The state is per thread, so the unlocked variant is enough. */
		int mret = mbedtls_ctr_drbg_random_with_add(&r->drbg, out, n, NULL, 0);
		if (mret != 0)
			return rng_fail("generating bytes", mret);
		out += n;
		len -= n;
	}
	return 0;
}

int stkdr__ct_memcmp(const void *a, const void *b, size_t len)
{
	const volatile uint8_t *pa = a;
	const volatile uint8_t *pb = b;
	uint8_t diff = 0;
	for (size_t i = 0; i < len; i++)
		diff |= (uint8_t)(pa[i] ^ pb[i]);
	return diff != 0;
}

/* ---- sealing (AES-256-GCM, format STKE v1) ---- */

/* Parses the framing; sets *hdr_len (through the nonce) and the key_id slice. */
static int seal_parse(size_t *hdr_len, const uint8_t **key_id, size_t *key_id_len, const uint8_t *p, size_t len)
{
	if (!p || len < SEAL_FIXED_LEN || memcmp(p, SEAL_MAGIC, 4) != 0) {
		if (p && len >= 4 && memcmp(p, SEAL_MAGIC, 4) != 0)
			return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
				"sealed data: bad magic (expected an \"STKE\" encrypted blob)");
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"sealed data: truncated (%zu bytes, shorter than the %d-byte header)", p ? len : 0,
			SEAL_FIXED_LEN);
	}
	if (p[4] != SEAL_VERSION)
		return stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_FORMAT, NULL,
			"sealed data: format version %u is not supported (this library reads version %d)", p[4],
			SEAL_VERSION);
	size_t klen = p[5];
	size_t need = SEAL_FIXED_LEN + klen + SEAL_NONCE_LEN + SEAL_TAG_LEN;
	if (len < need)
		return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
			"sealed data: truncated (%zu bytes, at least %zu expected)", len, need);
	*hdr_len = SEAL_FIXED_LEN + klen + SEAL_NONCE_LEN;
	*key_id = p + SEAL_FIXED_LEN;
	*key_id_len = klen;
	return 0;
}

/* GCM additional data: the whole header (magic through nonce) followed by the caller's aad. */
static int seal_aad(uint8_t **out, const uint8_t *hdr, size_t hdr_len, const void *aad, size_t aad_len)
{
	if (aad_len > SIZE_MAX - hdr_len)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "seal: additional data too large");
	uint8_t *a = stkdr__malloc(hdr_len + aad_len);
	if (!a)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory sealing data");
	memcpy(a, hdr, hdr_len);
	if (aad_len)
		memcpy(a + hdr_len, aad, aad_len);
	*out = a;
	return 0;
}

static int gcm_fail(const char *what, int mret)
{
	char code[32];
	snprintf(code, sizeof code, "-0x%04x", (unsigned)-mret);
	return stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_CRYPTO, code, "%s: AES-256-GCM failed (mbedTLS error -0x%04x)",
		what, (unsigned)-mret);
}

int stkdr__seal(stkdr_buf *out, const uint8_t key[32], const char *key_id, const void *aad, size_t aad_len,
		const void *plain, size_t plain_len)
{
	size_t klen = key_id ? strlen(key_id) : 0;
	if (!out || !key || (!plain && plain_len) || (!aad && aad_len))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "seal: NULL argument");
	if (klen > 255)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"seal: key id \"%.40s...\" is %zu bytes long (at most 255 allowed)", key_id, klen);
	size_t hdr_len = SEAL_FIXED_LEN + klen + SEAL_NONCE_LEN;
	if (plain_len > SIZE_MAX - hdr_len - SEAL_TAG_LEN - out->size - 1)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "seal: data too large");
	size_t total = hdr_len + plain_len + SEAL_TAG_LEN;
	size_t old = out->size;
	int rc = stkdr_buf_grow(out, old + total);
	if (rc)
		return rc;
	uint8_t *p = (uint8_t *)out->ptr + old;
	memcpy(p, SEAL_MAGIC, 4);
	p[4] = SEAL_VERSION;
	p[5] = (uint8_t)klen;
	if (klen)
		memcpy(p + SEAL_FIXED_LEN, key_id, klen);
	rc = stkdr__random(p + SEAL_FIXED_LEN + klen, SEAL_NONCE_LEN);
	if (rc)
		return rc;
	uint8_t *a;
	rc = seal_aad(&a, p, hdr_len, aad, aad_len);
	if (rc)
		return rc;

	mbedtls_gcm_context gcm;
	mbedtls_gcm_init(&gcm);
	int mret = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 256);
	if (mret == 0)
		mret = mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, plain_len, p + SEAL_FIXED_LEN + klen,
			SEAL_NONCE_LEN, a, hdr_len + aad_len, plain, p + hdr_len, SEAL_TAG_LEN,
			p + hdr_len + plain_len);
	mbedtls_gcm_free(&gcm);
	stkdr__wipe(a, hdr_len + aad_len);
	stkdr__free(a);
	if (mret != 0) {
		stkdr__wipe(p, total);
		out->ptr[old] = '\0';
		return gcm_fail("seal", mret);
	}
	out->size = old + total;
	out->ptr[out->size] = '\0';
	return 0;
}

int stkdr__open(stkdr_buf *out, const uint8_t key[32], const void *aad, size_t aad_len, const void *sealed,
		size_t sealed_len)
{
	if (!out || !key || (!aad && aad_len))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "open: NULL argument");
	size_t hdr_len, klen;
	const uint8_t *kid;
	const uint8_t *p = sealed;
	int rc = seal_parse(&hdr_len, &kid, &klen, p, sealed_len);
	if (rc)
		return rc;
	size_t clen = sealed_len - hdr_len - SEAL_TAG_LEN;
	size_t old = out->size;
	rc = stkdr_buf_grow(out, old + clen);
	if (rc)
		return rc;
	uint8_t *a;
	rc = seal_aad(&a, p, hdr_len, aad, aad_len);
	if (rc)
		return rc;

	mbedtls_gcm_context gcm;
	mbedtls_gcm_init(&gcm);
	int mret = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 256);
	if (mret == 0)
		mret = mbedtls_gcm_auth_decrypt(&gcm, clen, p + SEAL_FIXED_LEN + klen, SEAL_NONCE_LEN, a,
			hdr_len + aad_len, p + sealed_len - SEAL_TAG_LEN, SEAL_TAG_LEN, p + hdr_len,
			(uint8_t *)out->ptr + old);
	mbedtls_gcm_free(&gcm);
	stkdr__wipe(a, hdr_len + aad_len);
	stkdr__free(a);
	if (mret != 0) {
		stkdr__wipe(out->ptr + old, clen);
		out->ptr[old] = '\0';
		if (mret == MBEDTLS_ERR_GCM_AUTH_FAILED)
			return stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_CRYPTO, NULL,
				"decryption failed (key id \"%.*s\"): wrong key, data tampered with, or sealed for "
				"another object", (int)klen, (const char *)kid);
		return gcm_fail("open", mret);
	}
	out->size = old + clen;
	out->ptr[out->size] = '\0';
	return 0;
}

int stkdr__sealed_key_id(char out[256], const void *sealed, size_t sealed_len)
{
	size_t hdr_len, klen;
	const uint8_t *kid;
	out[0] = '\0';
	int rc = seal_parse(&hdr_len, &kid, &klen, sealed, sealed_len);
	if (rc)
		return rc;
	memcpy(out, kid, klen);
	out[klen] = '\0';
	return 0;
}

/* ---- hex ---- */

void stkdr__hex_encode(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The input may be a key: messages give lengths and positions, never the text. */
int stkdr__hex_decode(uint8_t *out, size_t out_len, const char *hex)
{
	if (!hex)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_FORMAT, NULL,
			"hex: no input (expected %zu hex digits)", 2 * out_len);
	size_t n = strnlen(hex, 2 * out_len + 1);
	if (n != 2 * out_len)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_FORMAT, NULL,
			"hex: expected exactly %zu hex digits, got %s%zu characters", 2 * out_len,
			n > 2 * out_len ? "more than " : "", n > 2 * out_len ? 2 * out_len : n);
	for (size_t i = 0; i < out_len; i++) {
		int hi = hex_val(hex[2 * i]);
		int lo = hex_val(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			stkdr__wipe(out, i);
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_FORMAT, NULL,
				"hex: invalid character at position %zu (expected 0-9, a-f)", 2 * i + (hi < 0 ? 0 : 1));
		}
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* ---- base64 (RFC 4648 sections 4 and 5) ---- */

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int stkdr__b64_encode(stkdr_buf *out, const void *in, size_t len, int url)
{
	if (!out || (!in && len))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "base64: NULL argument");
	const char *alpha = url ? b64_url : b64_std;
	const uint8_t *p = in;
	if (len / 3 > (SIZE_MAX - out->size - 8) / 4)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "base64: input too large");
	size_t olen = (len + 2) / 3 * 4;
	int rc = stkdr_buf_grow(out, out->size + olen);
	if (rc)
		return rc;
	char *o = out->ptr + out->size;
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = alpha[v >> 18];
		*o++ = alpha[(v >> 12) & 63];
		*o++ = alpha[(v >> 6) & 63];
		*o++ = alpha[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		*o++ = alpha[v >> 18];
		*o++ = alpha[(v >> 12) & 63];
		if (!url) {
			*o++ = '=';
			*o++ = '=';
		}
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		*o++ = alpha[v >> 18];
		*o++ = alpha[(v >> 12) & 63];
		*o++ = alpha[(v >> 6) & 63];
		if (!url)
			*o++ = '=';
	}
	out->size = (size_t)(o - out->ptr);
	out->ptr[out->size] = '\0';
	return 0;
}

static int b64_val(unsigned char c, int url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

static int b64_bad(int url, const char *fmt_what, size_t pos)
{
	return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_FORMAT, NULL, "base64%s: %s at offset %zu (expected %s)",
		url ? "url" : "", fmt_what, pos,
		url ? "A-Z a-z 0-9 - _ without padding" : "A-Z a-z 0-9 + / with '=' padding");
}

/*
 * Canonical decoding: padding is optional, but when present it must complete the last quantum; the unused
 * bits of the last character must be zero, so that each byte string has exactly one accepted encoding.
 */
int stkdr__b64_decode(stkdr_buf *out, const char *in, size_t len, int url)
{
	if (!out || (!in && len))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "base64: NULL argument");
	size_t data_len = len;
	while (data_len > 0 && in[data_len - 1] == '=' && len - data_len < 2)
		data_len--;
	if (data_len < len && len % 4 != 0)
		return b64_bad(url, "misplaced '=' padding", data_len);
	size_t old = out->size;
	int rc = stkdr_buf_grow(out, old + data_len / 4 * 3 + 2);
	if (rc)
		return rc;
	uint8_t *start = (uint8_t *)out->ptr + old;
	uint8_t *o = start;
	uint32_t acc = 0;
	int bits = 0;
	char what[64];
	size_t i;
	for (i = 0; i < data_len; i++) {
		unsigned char c = (unsigned char)in[i];
		int v = b64_val(c, url);
		if (v < 0) {
			if (c == '=')
				snprintf(what, sizeof what, "misplaced '=' padding");
			else if (c > 0x20 && c < 0x7f)
				snprintf(what, sizeof what, "invalid character '%c'", c);
			else
				snprintf(what, sizeof what, "invalid byte 0x%02x", c);
			goto fail;
		}
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o++ = (uint8_t)(acc >> bits);
		}
	}
	i = data_len - 1;
	if (data_len % 4 == 1) {
		snprintf(what, sizeof what, "truncated input (a lone final character cannot encode a byte)");
		goto fail;
	}
	if (bits && (acc & ((1u << bits) - 1)) != 0) {
		snprintf(what, sizeof what, "non-zero trailing bits (not a canonical encoding)");
		goto fail;
	}
	out->size = old + (size_t)(o - start);
	out->ptr[out->size] = '\0';
	return 0;
fail:
	stkdr__wipe(start, (size_t)(o - start));
	out->ptr[old] = '\0';
	return b64_bad(url, what, i);
}
