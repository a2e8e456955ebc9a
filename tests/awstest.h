/*
 * Test harness for the AWS backends: a moto server (`python3 -m moto.server`) on a free loopback port,
 * started by the test program itself and stopped when it exits; a scripted mock server of our own
 * (tests/aws/mock_server.py) for the responses moto never gives (5xx, throttling, malformed bodies); and
 * helpers to run the aws CLI against them. Credentials are the fixed test ones in the environment
 * (AWS_ACCESS_KEY_ID=testing...); the shared files are pointed at nothing so the host's never leak in.
 */
#ifndef STKDR_AWSTEST_H
#define STKDR_AWSTEST_H

#include "testutil.h"

typedef struct at_server {
	int pid;
	int port;
	char endpoint[64]; /* "http://127.0.0.1:PORT" */
} at_server;

/* Sets the test credentials and region in the environment (call first, before any fork). */
void at_env(void);
/* 1 if python3 with moto (and, with `need_cli`, the aws CLI) is available; otherwise 0 after printing why. */
int at_available(int need_cli);
/* Starts moto (with `auth` 1: moto's authentication on, INITIAL_NO_AUTH_ACTION_COUNT=`free_actions`).
 * Returns 0, or -1 with a message on stderr. Stopped at exit by the process that started it. */
int at_moto_start(at_server *s, int auth, int free_actions);
/* Starts tests/aws/mock_server.py. */
int at_mock_start(at_server *s);
/* Kills (SIGTERM, then SIGKILL) and reaps. */
void at_server_stop(at_server *s);
/* POST /moto-api/reset. */
void at_moto_reset(const at_server *s);
/* A raw unsigned HTTP request to the server; returns the status; the body (may be NULL) into `out`.
 * `headers` is NULL-terminated "Name: value" lines (may be NULL). */
long at_http(const at_server *s, const char *method, const char *path, const char *const *headers, const void *body,
	size_t len, stkdr_buf *out);
/*
 * A TCP proxy on a free loopback port in front of `target` (e.g. the mock server, which keeps HTTP/1.1
 * connections open; moto closes every one) that counts the connections it accepts: what connection reuse
 * is measured by, at the server side. Relays bytes both ways on threads of its own.
 */
typedef struct at_proxy {
	int port;
	char endpoint[64]; /* "http://127.0.0.1:PORT" */
	int target_port;
	int listen_fd;
	int accepted;      /* read with at_proxy_accepted() */
	void *thread;      /* the accept thread (pthread_t *) */
} at_proxy;
int at_proxy_start(at_proxy *p, const at_server *target);
/* Connections accepted so far. */
int at_proxy_accepted(at_proxy *p);
/* Stops accepting (connections already relayed end when either side closes). */
void at_proxy_stop(at_proxy *p);

/*
 * On moto with its authentication on (at_moto_start(s, 1, 3)): creates IAM user "stkdr" with an allow-all
 * policy and an access key, into ak/sk: the three actions moto lets through unauthenticated. Asserts.
 */
void at_moto_iam_key(const at_server *moto_auth, char *ak, size_t ak_cap, char *sk, size_t sk_cap);

/* The mock's script (POST /__script; see tests/aws/mock_server.py): the responses to the next requests. Asserts. */
void at_mock_script(const at_server *mock, const char *json);
/* The requests the mock saw since its last script, as sent (JSON list of {method, path, headers, body}),
 * NUL-terminated, into `out` (replaced). Asserts. */
void at_mock_log(const at_server *mock, stkdr_buf *out);
/* How many requests the mock saw since its last script. */
int at_mock_requests(const at_server *mock);

/*
 * The AWS test programs' main: the test environment (at_env), moto into `moto` and the mock into `mock`,
 * moto with authentication into `moto_auth` when non-NULL (its tests skip when it did not start:
 * moto_auth->pid <= 0), whether the aws CLI is there into `have_cli`; runs `make()`'s suite and stops the
 * servers. 77 (skipped) without moto, 1 if a server does not start.
 */
int at_main(Suite *(*make)(void), at_server *moto, at_server *mock, at_server *moto_auth, int *have_cli);

/*
 * Decodes an aws-chunked body (`hex(size);chunk-signature=<64 hex>\r\n<data>\r\n` ..., ending with the empty
 * chunk and nothing after it): the data is appended to `out`. With `key` non-NULL every chunk's signature is
 * checked, chained from `seed` (stkdr__sigv4_chunk_signature with `amz_date` and `scope`). 0, or -1 with what
 * is wrong (and where) in `err`.
 */
int at_chunked_decode(stkdr_buf *out, const uint8_t *body, size_t n, const uint8_t *key, const char *amz_date,
	const char *scope, const char *seed, char *err, size_t err_cap);

/* Runs a shell command (through /bin/sh) and returns its exit status; output into `out` if non-NULL. */
int at_sh(stkdr_buf *out, const char *cmd);
/* Path of a file in the source tree. New string (stkdr__free). */
char *at_source_path(const char *rel);

#endif
