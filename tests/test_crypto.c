/* core/crypto: SHA-256, HMAC-SHA256, sealing (STKE v1), CSPRNG, constant-time compare, hex, base64. */
#include "testutil.h"

#include "core/crypto.h"

#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void assert_hex(const uint8_t *d, size_t n, const char *want)
{
	char got[2 * 64 + 1];
	ck_assert_uint_le(n, 64);
	stkdr__hex_encode(got, d, n);
	ck_assert_str_eq(got, want);
}

/* ---- SHA-256 (FIPS 180-2 / NIST examples) ---- */

START_TEST(sha256_vectors)
{
	uint8_t d[32];
	stkdr__sha256("", 0, d);
	assert_hex(d, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	stkdr__sha256(NULL, 0, d);
	assert_hex(d, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	stkdr__sha256("abc", 3, d);
	assert_hex(d, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	stkdr__sha256(m448, strlen(m448), d);
	assert_hex(d, 32, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
END_TEST

START_TEST(sha256_million_a_streamed)
{
	static const size_t chunks[] = { 1, 63, 64, 65, 7, 1000, 4093, 0, 17 };
	char a[5000];
	memset(a, 'a', sizeof a);
	stkdr__sha256_ctx c;
	stkdr__sha256_init(&c);
	size_t left = 1000000;
	for (size_t i = 0; left > 0; i++) {
		size_t n = chunks[i % STKDR__ARRAY_SIZE(chunks)];
		if (n > left)
			n = left;
		stkdr__sha256_update(&c, a, n);
		left -= n;
	}
	uint8_t d[32];
	stkdr__sha256_final(&c, d);
	assert_hex(d, 32, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

/* ---- HMAC-SHA256 (RFC 4231) ---- */

START_TEST(hmac_rfc4231)
{
	uint8_t key[131], data[200], d[32];

	memset(key, 0x0b, 20);
	stkdr__hmac_sha256(key, 20, "Hi There", 8, d);
	assert_hex(d, 32, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

	stkdr__hmac_sha256((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28, d);
	assert_hex(d, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

	memset(key, 0xaa, 20);
	memset(data, 0xdd, 50);
	stkdr__hmac_sha256(key, 20, data, 50, d);
	assert_hex(d, 32, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");

	for (int i = 0; i < 25; i++)
		key[i] = (uint8_t)(i + 1);
	memset(data, 0xcd, 50);
	stkdr__hmac_sha256(key, 25, data, 50, d);
	assert_hex(d, 32, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");

	memset(key, 0xaa, 131);
	const char *t6 = "Test Using Larger Than Block-Size Key - Hash Key First";
	stkdr__hmac_sha256(key, 131, t6, strlen(t6), d);
	assert_hex(d, 32, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");

	const char *t7 = "This is a test using a larger than block-size key and a larger than block-size data. The key "
			 "needs to be hashed before being used by the HMAC algorithm.";
	stkdr__hmac_sha256(key, 131, t7, strlen(t7), d);
	assert_hex(d, 32, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");

	/* empty key and data are valid */
	stkdr__hmac_sha256(NULL, 0, NULL, 0, d);
	assert_hex(d, 32, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}
END_TEST

/* ---- sealing ---- */

static const uint8_t key1[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
	24, 25, 26, 27, 28, 29, 30, 31, 32 };

START_TEST(seal_roundtrip)
{
	static const size_t lens[] = { 0, 1, 15, 16, 17, 1000, 70000 };
	uint8_t *plain = malloc(70000);
	ck_assert_ptr_nonnull(plain);
	tu_assert_ok(stkdr__random(plain, 70000));
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(lens); i++) {
		stkdr_buf sealed = STKDR_BUF_INIT, opened = STKDR_BUF_INIT;
		tu_assert_ok(stkdr__seal(&sealed, key1, "master-v3", "hub-prod/keys/a", 15, plain, lens[i]));
		ck_assert_uint_eq(sealed.size, 6 + 9 + 12 + lens[i] + 16);
		ck_assert_mem_eq(sealed.ptr, "STKE\x01\x09master-v3", 15);
		tu_assert_ok(stkdr__open(&opened, key1, "hub-prod/keys/a", 15, sealed.ptr, sealed.size));
		ck_assert_uint_eq(opened.size, lens[i]);
		if (lens[i])
			ck_assert_mem_eq(opened.ptr, plain, lens[i]);
		stkdr_buf_dispose(&sealed);
		stkdr_buf_dispose(&opened);
	}
	free(plain);
}
END_TEST

START_TEST(seal_appends_and_no_key_id)
{
	stkdr_buf out = STKDR_BUF_INIT;
	tu_assert_ok(stkdr_buf_set(&out, "prefix", 6));
	tu_assert_ok(stkdr__seal(&out, key1, NULL, NULL, 0, "secret", 6));
	ck_assert_uint_eq(out.size, 6 + 6 + 12 + 6 + 16);
	ck_assert_mem_eq(out.ptr, "prefixSTKE\x01\x00", 12);
	char kid[256] = "x";
	tu_assert_ok(stkdr__sealed_key_id(kid, out.ptr + 6, out.size - 6));
	ck_assert_str_eq(kid, "");

	stkdr_buf plain = STKDR_BUF_INIT;
	tu_assert_ok(stkdr_buf_set(&plain, "head:", 5));
	tu_assert_ok(stkdr__open(&plain, key1, NULL, 0, out.ptr + 6, out.size - 6));
	ck_assert_str_eq(plain.ptr, "head:secret");
	/* "" as key_id is the same as NULL */
	stkdr_buf out2 = STKDR_BUF_INIT;
	tu_assert_ok(stkdr__seal(&out2, key1, "", NULL, 0, "x", 1));
	ck_assert_uint_eq((uint8_t)out2.ptr[5], 0);
	stkdr_buf_dispose(&out);
	stkdr_buf_dispose(&out2);
	stkdr_buf_dispose(&plain);
}
END_TEST

START_TEST(seal_nonce_is_fresh)
{
	stkdr_buf a = STKDR_BUF_INIT, b = STKDR_BUF_INIT;
	tu_assert_ok(stkdr__seal(&a, key1, "k", "x", 1, "same", 4));
	tu_assert_ok(stkdr__seal(&b, key1, "k", "x", 1, "same", 4));
	ck_assert_uint_eq(a.size, b.size);
	ck_assert(memcmp(a.ptr, b.ptr, a.size) != 0);
	ck_assert(memcmp(a.ptr + 7, b.ptr + 7, 12) != 0); /* the nonce */
	stkdr_buf_dispose(&a);
	stkdr_buf_dispose(&b);
}
END_TEST

START_TEST(open_wrong_key_and_aad)
{
	stkdr_buf s = STKDR_BUF_INIT, o = STKDR_BUF_INIT;
	uint8_t key2[32];
	memcpy(key2, key1, 32);
	key2[31] ^= 0x80;
	tu_assert_ok(stkdr__seal(&s, key1, "kid-1", "obj/a", 5, "hello world", 11));
	tu_assert_ok(stkdr_buf_set(&o, "keep", 4));
	tu_assert_rc(stkdr__open(&o, key2, "obj/a", 5, s.ptr, s.size), STKDR_EAUTH);
	ck_assert_int_eq(stkdr__err_get()->klass, STKDR_ERRCLASS_CRYPTO);
	tu_assert_errmsg("kid-1");
	tu_assert_errmsg("wrong key");
	ck_assert_str_eq(o.ptr, "keep"); /* nothing appended on failure */
	ck_assert_uint_eq(o.size, 4);
	tu_assert_rc(stkdr__open(&o, key1, "obj/b", 5, s.ptr, s.size), STKDR_EAUTH);
	tu_assert_rc(stkdr__open(&o, key1, NULL, 0, s.ptr, s.size), STKDR_EAUTH);
	tu_assert_rc(stkdr__open(&o, key1, "obj/a", 4, s.ptr, s.size), STKDR_EAUTH);
	ck_assert_uint_eq(o.size, 4);
	tu_assert_ok(stkdr__open(&o, key1, "obj/a", 5, s.ptr, s.size));
	ck_assert_str_eq(o.ptr, "keephello world");
	stkdr_buf_dispose(&s);
	stkdr_buf_dispose(&o);
}
END_TEST

START_TEST(open_any_flipped_bit_fails)
{
	stkdr_buf s = STKDR_BUF_INIT, o = STKDR_BUF_INIT;
	tu_assert_ok(stkdr__seal(&s, key1, "kid", "aad", 3, "some secret plaintext", 21));
	/* header, key_id, nonce, ciphertext, tag: every bit of every byte */
	for (size_t i = 0; i < s.size; i++) {
		for (int bit = 0; bit < 8; bit++) {
			s.ptr[i] = (char)(s.ptr[i] ^ (1 << bit));
			int rc = stkdr__open(&o, key1, "aad", 3, s.ptr, s.size);
			ck_assert_msg(rc == STKDR_EAUTH || rc == STKDR_ECORRUPT || rc == STKDR_EVERSION,
				"byte %zu bit %d: rc=%d", i, bit, rc);
			ck_assert_uint_eq(o.size, 0);
			s.ptr[i] = (char)(s.ptr[i] ^ (1 << bit));
		}
	}
	tu_assert_ok(stkdr__open(&o, key1, "aad", 3, s.ptr, s.size));
	ck_assert_str_eq(o.ptr, "some secret plaintext");
	stkdr_buf_dispose(&s);
	stkdr_buf_dispose(&o);
}
END_TEST

START_TEST(open_bad_framing)
{
	stkdr_buf s = STKDR_BUF_INIT, o = STKDR_BUF_INIT;
	tu_assert_ok(stkdr__seal(&s, key1, "kid", NULL, 0, "abc", 3));
	/* every truncation */
	for (size_t n = 0; n < s.size; n++) {
		int rc = stkdr__open(&o, key1, NULL, 0, s.ptr, n);
		ck_assert_msg(rc == STKDR_ECORRUPT || rc == STKDR_EAUTH, "len %zu: rc=%d", n, rc);
		if (n < 6 + 3 + 12 + 16) {
			tu_assert_rc(rc, STKDR_ECORRUPT);
			tu_assert_errmsg("truncated");
		}
	}
	tu_assert_rc(stkdr__open(&o, key1, NULL, 0, NULL, 0), STKDR_ECORRUPT);
	tu_assert_rc(stkdr__open(&o, key1, NULL, 0, "STK", 3), STKDR_ECORRUPT);
	tu_assert_errmsg("truncated");
	/* bad magic */
	s.ptr[0] = 'X';
	tu_assert_rc(stkdr__open(&o, key1, NULL, 0, s.ptr, s.size), STKDR_ECORRUPT);
	tu_assert_errmsg("bad magic");
	ck_assert_int_eq(stkdr__err_get()->klass, STKDR_ERRCLASS_FORMAT);
	s.ptr[0] = 'S';
	/* unknown version */
	s.ptr[4] = 2;
	tu_assert_rc(stkdr__open(&o, key1, NULL, 0, s.ptr, s.size), STKDR_EVERSION);
	tu_assert_errmsg("version 2");
	s.ptr[4] = 1;
	/* key_id_len pointing past the end */
	s.ptr[5] = (char)200;
	tu_assert_rc(stkdr__open(&o, key1, NULL, 0, s.ptr, s.size), STKDR_ECORRUPT);
	ck_assert_uint_eq(o.size, 0);
	stkdr_buf_dispose(&s);
	stkdr_buf_dispose(&o);
}
END_TEST

START_TEST(seal_bad_arguments)
{
	stkdr_buf s = STKDR_BUF_INIT;
	char long_id[300];
	memset(long_id, 'k', sizeof long_id - 1);
	long_id[sizeof long_id - 1] = '\0';
	tu_assert_rc(stkdr__seal(&s, key1, long_id, NULL, 0, "x", 1), STKDR_EINVAL);
	tu_assert_errmsg("at most 255");
	long_id[255] = '\0';
	tu_assert_ok(stkdr__seal(&s, key1, long_id, NULL, 0, "x", 1));
	char kid[256];
	tu_assert_ok(stkdr__sealed_key_id(kid, s.ptr, s.size));
	ck_assert_str_eq(kid, long_id);
	tu_assert_rc(stkdr__seal(NULL, key1, "k", NULL, 0, "x", 1), STKDR_EINVAL);
	tu_assert_rc(stkdr__seal(&s, NULL, "k", NULL, 0, "x", 1), STKDR_EINVAL);
	tu_assert_rc(stkdr__seal(&s, key1, "k", NULL, 0, NULL, 1), STKDR_EINVAL);
	tu_assert_rc(stkdr__seal(&s, key1, "k", NULL, 1, "x", 1), STKDR_EINVAL);
	tu_assert_ok(stkdr__seal(&s, key1, "k", NULL, 0, NULL, 0));
	stkdr_buf o = STKDR_BUF_INIT;
	tu_assert_rc(stkdr__open(NULL, key1, NULL, 0, s.ptr, s.size), STKDR_EINVAL);
	tu_assert_rc(stkdr__open(&o, NULL, NULL, 0, s.ptr, s.size), STKDR_EINVAL);
	tu_assert_rc(stkdr__open(&o, key1, NULL, 1, s.ptr, s.size), STKDR_EINVAL);
	stkdr_buf_dispose(&s);
}
END_TEST

START_TEST(sealed_key_id_readback)
{
	stkdr_buf s = STKDR_BUF_INIT;
	char kid[256];
	tu_assert_ok(stkdr__seal(&s, key1, "kms:alias/stkdr-master#7", "a", 1, "payload", 7));
	tu_assert_ok(stkdr__sealed_key_id(kid, s.ptr, s.size));
	ck_assert_str_eq(kid, "kms:alias/stkdr-master#7");
	tu_assert_rc(stkdr__sealed_key_id(kid, s.ptr, 10), STKDR_ECORRUPT);
	ck_assert_str_eq(kid, "");
	tu_assert_rc(stkdr__sealed_key_id(kid, "nope-not-sealed-at-all-padding-padding-padding", 46), STKDR_ECORRUPT);
	tu_assert_errmsg("bad magic");
	stkdr_buf_dispose(&s);
}
END_TEST

START_TEST(seal_binds_nonce_and_key_id)
{
	stkdr_buf s = STKDR_BUF_INIT, o = STKDR_BUF_INIT;
	tu_assert_ok(stkdr__seal(&s, key1, "k1", "where", 5, "pinned", 6));
	/* a different nonce: authentication fails */
	s.ptr[8] ^= 1;
	tu_assert_rc(stkdr__open(&o, key1, "where", 5, s.ptr, s.size), STKDR_EAUTH);
	s.ptr[8] ^= 1;
	/* key_id is authenticated: renaming the key fails */
	s.ptr[7] = '2';
	tu_assert_rc(stkdr__open(&o, key1, "where", 5, s.ptr, s.size), STKDR_EAUTH);
	s.ptr[7] = '1';
	tu_assert_ok(stkdr__open(&o, key1, "where", 5, s.ptr, s.size));
	ck_assert_str_eq(o.ptr, "pinned");
	stkdr_buf_dispose(&s);
	stkdr_buf_dispose(&o);
}
END_TEST

/* ---- random ---- */

START_TEST(random_basics)
{
	uint8_t a[1000], b[1000];
	memset(a, 0, sizeof a);
	memset(b, 0, sizeof b);
	tu_assert_ok(stkdr__random(a, 0));
	tu_assert_ok(stkdr__random(NULL, 0));
	tu_assert_ok(stkdr__random(a, 1));
	tu_assert_ok(stkdr__random(a, sizeof a));
	tu_assert_ok(stkdr__random(b, sizeof b));
	ck_assert(memcmp(a, b, sizeof a) != 0);
	/* not stuck on zeros: a 1000-byte output has many distinct values */
	int seen[256] = { 0 }, distinct = 0;
	for (size_t i = 0; i < sizeof a; i++)
		if (!seen[a[i]]++)
			distinct++;
	ck_assert_int_gt(distinct, 200);
	/* larger than one CTR-DRBG request (1024 bytes) */
	uint8_t *big = calloc(1, 5000);
	ck_assert_ptr_nonnull(big);
	tu_assert_ok(stkdr__random(big, 5000));
	static const uint8_t zero[64];
	ck_assert(memcmp(big + 4900, zero, 64) != 0);
	free(big);
}
END_TEST

static void *thread_random(void *arg)
{
	uint8_t *out = arg;
	return stkdr__random(out, 32) == 0 ? out : NULL;
}

START_TEST(random_per_thread)
{
	uint8_t mine[32], t1[32], t2[32];
	tu_assert_ok(stkdr__random(mine, 32));
	pthread_t a, b;
	void *ra, *rb;
	ck_assert_int_eq(pthread_create(&a, NULL, thread_random, t1), 0);
	ck_assert_int_eq(pthread_create(&b, NULL, thread_random, t2), 0);
	ck_assert_int_eq(pthread_join(a, &ra), 0);
	ck_assert_int_eq(pthread_join(b, &rb), 0);
	ck_assert_ptr_eq(ra, t1);
	ck_assert_ptr_eq(rb, t2);
	ck_assert(memcmp(t1, t2, 32) != 0);
	ck_assert(memcmp(mine, t1, 32) != 0);
}
END_TEST

START_TEST(random_reseeds_after_fork)
{
	uint8_t warm[16], parent[32], child[32];
	tu_assert_ok(stkdr__random(warm, sizeof warm)); /* the state exists before the fork */
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		uint8_t c[32];
		int ok = stkdr__random(c, sizeof c) == 0 && write(fds[1], c, sizeof c) == (ssize_t)sizeof c;
		_exit(ok ? 0 : 1);
	}
	close(fds[1]);
	tu_assert_ok(stkdr__random(parent, sizeof parent));
	ck_assert_int_eq(read(fds[0], child, sizeof child), (ssize_t)sizeof child);
	close(fds[0]);
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert(memcmp(parent, child, sizeof parent) != 0);
}
END_TEST

/* ---- constant-time compare ---- */

START_TEST(ct_memcmp_works)
{
	ck_assert_int_eq(stkdr__ct_memcmp("abc", "abc", 3), 0);
	ck_assert_int_ne(stkdr__ct_memcmp("abc", "abd", 3), 0);
	ck_assert_int_ne(stkdr__ct_memcmp("xbc", "abc", 3), 0);
	ck_assert_int_eq(stkdr__ct_memcmp("abc", "abd", 2), 0);
	ck_assert_int_eq(stkdr__ct_memcmp("a", "b", 0), 0);
	uint8_t x[64], y[64];
	memset(x, 0x5a, sizeof x);
	memcpy(y, x, sizeof y);
	for (size_t i = 0; i < sizeof x; i++) {
		y[i] ^= 0x01;
		ck_assert_int_ne(stkdr__ct_memcmp(x, y, sizeof x), 0);
		y[i] ^= 0x01;
	}
	ck_assert_int_eq(stkdr__ct_memcmp(x, y, sizeof x), 0);
}
END_TEST

/* ---- hex ---- */

START_TEST(hex_roundtrip)
{
	uint8_t all[256], back[256];
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	char hex[513];
	stkdr__hex_encode(hex, all, 256);
	ck_assert_uint_eq(strlen(hex), 512);
	ck_assert(strncmp(hex, "000102", 6) == 0);
	ck_assert_str_eq(hex + 500, "fafbfcfdfeff");
	tu_assert_ok(stkdr__hex_decode(back, 256, hex));
	ck_assert_mem_eq(all, back, 256);
	/* uppercase accepted */
	uint8_t b2[4];
	tu_assert_ok(stkdr__hex_decode(b2, 4, "DEADbeef"));
	ck_assert_mem_eq(b2, "\xde\xad\xbe\xef", 4);
	char e[1];
	stkdr__hex_encode(e, NULL, 0);
	ck_assert_str_eq(e, "");
	tu_assert_ok(stkdr__hex_decode(b2, 0, ""));
}
END_TEST

START_TEST(hex_rejects_bad_input)
{
	uint8_t out[4];
	tu_assert_rc(stkdr__hex_decode(out, 4, "deadbee"), STKDR_EINVAL);
	tu_assert_errmsg("expected exactly 8 hex digits, got 7");
	tu_assert_rc(stkdr__hex_decode(out, 4, "deadbeef00"), STKDR_EINVAL);
	tu_assert_errmsg("more than 8");
	tu_assert_rc(stkdr__hex_decode(out, 4, "deadbeeg"), STKDR_EINVAL);
	tu_assert_errmsg("position 7");
	tu_assert_rc(stkdr__hex_decode(out, 4, "xeadbeef"), STKDR_EINVAL);
	tu_assert_errmsg("position 0");
	tu_assert_rc(stkdr__hex_decode(out, 4, "dead beef"), STKDR_EINVAL);
	tu_assert_rc(stkdr__hex_decode(out, 4, "de:dbeef"), STKDR_EINVAL);
	tu_assert_errmsg("position 2");
	tu_assert_rc(stkdr__hex_decode(out, 4, ""), STKDR_EINVAL);
	tu_assert_rc(stkdr__hex_decode(out, 4, NULL), STKDR_EINVAL);
	ck_assert_int_eq(stkdr__err_get()->klass, STKDR_ERRCLASS_FORMAT);
	/* the (possibly secret) input never appears in the message */
	tu_assert_rc(stkdr__hex_decode(out, 4, "0123456z"), STKDR_EINVAL);
	ck_assert(strstr(stkdr__err_get()->message, "0123456") == NULL);
}
END_TEST

/* ---- base64 (RFC 4648 section 10) ---- */

static const struct {
	const char *plain, *std, *url;
} b64v[] = {
	{ "", "", "" },
	{ "f", "Zg==", "Zg" },
	{ "fo", "Zm8=", "Zm8" },
	{ "foo", "Zm9v", "Zm9v" },
	{ "foob", "Zm9vYg==", "Zm9vYg" },
	{ "fooba", "Zm9vYmE=", "Zm9vYmE" },
	{ "foobar", "Zm9vYmFy", "Zm9vYmFy" },
};

START_TEST(b64_rfc4648_vectors)
{
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(b64v); i++) {
		for (int url = 0; url <= 1; url++) {
			const char *enc = url ? b64v[i].url : b64v[i].std;
			stkdr_buf b = STKDR_BUF_INIT;
			tu_assert_ok(stkdr__b64_encode(&b, b64v[i].plain, strlen(b64v[i].plain), url));
			ck_assert_str_eq(b.ptr ? b.ptr : "", enc);
			stkdr_buf d = STKDR_BUF_INIT;
			tu_assert_ok(stkdr__b64_decode(&d, enc, strlen(enc), url));
			ck_assert_uint_eq(d.size, strlen(b64v[i].plain));
			ck_assert_str_eq(d.ptr ? d.ptr : "", b64v[i].plain);
			stkdr_buf_dispose(&b);
			stkdr_buf_dispose(&d);
		}
	}
}
END_TEST

START_TEST(b64_alphabets)
{
	static const uint8_t bin[] = { 0xfb, 0xff, 0xbf, 0xfe };
	stkdr_buf s = STKDR_BUF_INIT, u = STKDR_BUF_INIT, d = STKDR_BUF_INIT;
	tu_assert_ok(stkdr__b64_encode(&s, bin, 4, 0));
	tu_assert_ok(stkdr__b64_encode(&u, bin, 4, 1));
	ck_assert_str_eq(s.ptr, "+/+//g==");
	ck_assert_str_eq(u.ptr, "-_-__g");
	tu_assert_ok(stkdr__b64_decode(&d, s.ptr, s.size, 0));
	ck_assert_mem_eq(d.ptr, bin, 4);
	stkdr__buf_clear(&d);
	tu_assert_ok(stkdr__b64_decode(&d, u.ptr, u.size, 1));
	ck_assert_mem_eq(d.ptr, bin, 4);
	/* the other alphabet is rejected */
	stkdr__buf_clear(&d);
	tu_assert_rc(stkdr__b64_decode(&d, u.ptr, u.size, 0), STKDR_EINVAL);
	tu_assert_errmsg("'-'");
	tu_assert_rc(stkdr__b64_decode(&d, s.ptr, s.size, 1), STKDR_EINVAL);
	tu_assert_errmsg("'+'");
	ck_assert_uint_eq(d.size, 0);
	/* padding is optional in the standard alphabet, accepted in the URL one */
	tu_assert_ok(stkdr__b64_decode(&d, "Zm8", 3, 0));
	tu_assert_ok(stkdr__b64_decode(&d, "Zg==", 4, 1));
	ck_assert_str_eq(d.ptr, "fof");
	/* appends; round trip of every byte value */
	uint8_t all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	for (int url = 0; url <= 1; url++) {
		stkdr_buf e = STKDR_BUF_INIT, back = STKDR_BUF_INIT;
		tu_assert_ok(stkdr_buf_set(&e, ">", 1));
		tu_assert_ok(stkdr__b64_encode(&e, all, 256, url));
		ck_assert_int_eq(e.ptr[0], '>');
		tu_assert_ok(stkdr__b64_decode(&back, e.ptr + 1, e.size - 1, url));
		ck_assert_uint_eq(back.size, 256);
		ck_assert_mem_eq(back.ptr, all, 256);
		stkdr_buf_dispose(&e);
		stkdr_buf_dispose(&back);
	}
	stkdr_buf_dispose(&s);
	stkdr_buf_dispose(&u);
	stkdr_buf_dispose(&d);
}
END_TEST

START_TEST(b64_rejects_bad_input)
{
	static const struct {
		const char *in;
		int url;
		const char *msg;
	} bad[] = {
		{ "Zm9v!", 0, "invalid character '!' at offset 4" },
		{ "Zm 9v", 0, "invalid byte 0x20 at offset 2" },
		{ "Zm9v\n", 0, "invalid byte 0x0a" },
		{ "Zm9\xc3\xa9", 0, "invalid byte 0xc3" },
		{ "Z", 0, "truncated" },
		{ "Zm9vY", 1, "truncated" },
		{ "Zg=", 0, "misplaced" },
		{ "Z===", 0, "misplaced" },
		{ "Zg==Zg==", 0, "misplaced '=' padding at offset 2" },
		{ "=", 0, "misplaced" },
		{ "Zh==", 0, "non-zero trailing bits" },
		{ "Zm9=", 0, "non-zero trailing bits" },
		{ "Zh", 1, "non-zero trailing bits" },
		{ "a/b", 1, "'/'" },
	};
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(bad); i++) {
		stkdr_buf d = STKDR_BUF_INIT;
		tu_assert_ok(stkdr_buf_set(&d, "x", 1));
		int rc = stkdr__b64_decode(&d, bad[i].in, strlen(bad[i].in), bad[i].url);
		ck_assert_msg(rc == STKDR_EINVAL, "\"%s\": rc=%d", bad[i].in, rc);
		tu_assert_errmsg(bad[i].msg);
		tu_assert_errmsg(bad[i].url ? "base64url" : "base64:");
		ck_assert_str_eq(d.ptr, "x");
		ck_assert_uint_eq(d.size, 1);
		stkdr_buf_dispose(&d);
	}
	stkdr_buf d = STKDR_BUF_INIT;
	tu_assert_rc(stkdr__b64_decode(NULL, "x", 1, 0), STKDR_EINVAL);
	tu_assert_rc(stkdr__b64_decode(&d, NULL, 1, 0), STKDR_EINVAL);
	tu_assert_rc(stkdr__b64_encode(NULL, "x", 1, 0), STKDR_EINVAL);
	tu_assert_rc(stkdr__b64_encode(&d, NULL, 1, 0), STKDR_EINVAL);
	tu_assert_ok(stkdr__b64_decode(&d, NULL, 0, 0));
	tu_assert_ok(stkdr__b64_encode(&d, NULL, 0, 1));
	ck_assert_uint_eq(d.size, 0);
	stkdr_buf_dispose(&d);
}
END_TEST

/* ---- out of memory (through the allocator hooks) ---- */

static int fail_after = -1;

static void *fail_malloc(size_t size, void *ud)
{
	(void)ud;
	if (fail_after == 0)
		return NULL;
	if (fail_after > 0)
		fail_after--;
	return malloc(size);
}

static void *fail_realloc(void *p, size_t size, void *ud)
{
	(void)ud;
	return realloc(p, size);
}

static void fail_free(void *p, void *ud)
{
	(void)ud;
	free(p);
}

START_TEST(out_of_memory)
{
	stkdr_allocator a = { STKDR_ALLOCATOR_VERSION, fail_malloc, fail_realloc, fail_free, NULL };
	stkdr_global_options o = STKDR_GLOBAL_OPTIONS_INIT;
	o.allocator = &a;
	ck_assert_int_ge(stkdr_global_init(&o), 1);
	stkdr_buf s = STKDR_BUF_INIT, d = STKDR_BUF_INIT;
	tu_assert_ok(stkdr__seal(&s, key1, "k", "aad", 3, "data", 4));
	int ok = 0;
	for (int n = 0; !ok && n < 10; n++) {
		stkdr_buf t = STKDR_BUF_INIT;
		fail_after = n;
		int rc = stkdr__seal(&t, key1, "k", "aad", 3, "data", 4);
		fail_after = -1;
		ck_assert_msg(rc == 0 || rc == STKDR_ENOMEM, "rc=%d", rc);
		ok = rc == 0;
		stkdr_buf_dispose(&t);
	}
	ck_assert(ok);
	ok = 0;
	for (int n = 0; !ok && n < 10; n++) {
		fail_after = n;
		int rc = stkdr__open(&d, key1, "aad", 3, s.ptr, s.size);
		fail_after = -1;
		ck_assert_msg(rc == 0 || rc == STKDR_ENOMEM, "rc=%d", rc);
		ok = rc == 0;
	}
	ck_assert(ok);
	ck_assert_str_eq(d.ptr, "data");
	fail_after = 0;
	stkdr_buf e = STKDR_BUF_INIT;
	tu_assert_rc(stkdr__b64_encode(&e, "abc", 3, 0), STKDR_ENOMEM);
	tu_assert_rc(stkdr__b64_decode(&e, "YWJj", 4, 0), STKDR_ENOMEM);
	fail_after = -1;
	stkdr_buf_dispose(&s);
	stkdr_buf_dispose(&d);
	ck_assert_int_eq(stkdr_global_shutdown(), 0);
}
END_TEST


START_TEST(sha256_hardware_and_portable_agree)
{
	/* Both implementations on the same inputs, of every length around block boundaries and in odd
	 * chunkings, must give the same digests; and the NIST vector under both. */
	uint8_t data[4096];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i * 131 + (i >> 7));
	for (int pass = 0; pass < 2; pass++) {
		for (size_t len = 0; len <= 300; len += (len < 140 ? 1 : 37)) {
			uint8_t a[32], b[32];
			stkdr__sha256_force_portable(1);
			stkdr__sha256(data, len, a);
			stkdr__sha256_force_portable(0);
			stkdr__sha256_ctx c;
			stkdr__sha256_init(&c);
			for (size_t off = 0; off < len;) {
				size_t k = 1 + (off * 7 + pass) % 67;
				if (k > len - off)
					k = len - off;
				stkdr__sha256_update(&c, data + off, k);
				off += k;
			}
			stkdr__sha256_final(&c, b);
			ck_assert_msg(memcmp(a, b, 32) == 0, "length %zu differs", len);
		}
	}
	uint8_t d[32];
	char hex[65];
	for (int portable = 1; portable >= 0; portable--) {
		stkdr__sha256_force_portable(portable);
		stkdr__sha256("abc", 3, d);
		stkdr__hex_encode(hex, d, 32);
		ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
		stkdr__sha256(data, sizeof data, d);
	}
	stkdr__sha256_force_portable(0);
	/* report which one this machine uses (informational) */
	fprintf(stderr, "sha256: %s\n", stkdr__sha256_accelerated() ? "SHA extensions" : "portable");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crypto");
	TCase *tc = tcase_create("sha256");
	tcase_add_test(tc, sha256_hardware_and_portable_agree);
	tcase_add_test(tc, sha256_vectors);
	tcase_add_test(tc, sha256_million_a_streamed);
	tcase_add_test(tc, hmac_rfc4231);
	suite_add_tcase(s, tc);

	tc = tcase_create("seal");
	tcase_add_test(tc, seal_roundtrip);
	tcase_add_test(tc, seal_appends_and_no_key_id);
	tcase_add_test(tc, seal_nonce_is_fresh);
	tcase_add_test(tc, open_wrong_key_and_aad);
	tcase_add_test(tc, open_any_flipped_bit_fails);
	tcase_add_test(tc, open_bad_framing);
	tcase_add_test(tc, seal_bad_arguments);
	tcase_add_test(tc, sealed_key_id_readback);
	tcase_add_test(tc, seal_binds_nonce_and_key_id);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_add_test(tc, random_basics);
	tcase_add_test(tc, random_per_thread);
	tcase_add_test(tc, random_reseeds_after_fork);
	tcase_add_test(tc, ct_memcmp_works);
	suite_add_tcase(s, tc);

	tc = tcase_create("encoding");
	tcase_add_test(tc, hex_roundtrip);
	tcase_add_test(tc, hex_rejects_bad_input);
	tcase_add_test(tc, b64_rfc4648_vectors);
	tcase_add_test(tc, b64_alphabets);
	tcase_add_test(tc, b64_rejects_bad_input);
	tcase_add_test(tc, out_of_memory);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
