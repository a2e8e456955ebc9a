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
/* Runs a shell command (through /bin/sh) and returns its exit status; output into `out` if non-NULL. */
int at_sh(stkdr_buf *out, const char *cmd);
/* Path of a file in the source tree. New string (stkdr__free). */
char *at_source_path(const char *rel);

#endif
