/* Test harness for the AWS backends (see awstest.h). */
#include "awstest.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SERVERS 8

static int owner_pid;
static int pids[MAX_SERVERS];

static void stop_all(void)
{
	if (getpid() != owner_pid)
		return; /* a forked test case: the servers belong to the parent */
	for (int i = 0; i < MAX_SERVERS; i++)
		if (pids[i] > 0) {
			kill(pids[i], SIGTERM);
			waitpid(pids[i], NULL, 0);
			pids[i] = 0;
		}
}

void at_env(void)
{
	setenv("AWS_ACCESS_KEY_ID", "testing", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "testing", 1);
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_PROFILE");
	setenv("AWS_DEFAULT_REGION", "us-east-1", 1);
	setenv("AWS_REGION", "us-east-1", 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/stkdr-test-credentials", 1);
	setenv("AWS_CONFIG_FILE", "/nonexistent/stkdr-test-config", 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	setenv("AWS_PAGER", "", 1);
}

int at_sh(stkdr_buf *out, const char *cmd)
{
	FILE *f = popen(cmd, "r");
	if (!f)
		return -1;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		if (out)
			stkdr_buf_put(out, buf, n);
	int st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int at_available(int need_cli)
{
	if (at_sh(NULL, "python3 -c 'import moto.server' >/dev/null 2>&1") != 0) {
		fprintf(stderr, "SKIP: python3 with moto is not installed (pip install 'moto[server]')\n");
		return 0;
	}
	if (need_cli && at_sh(NULL, "aws --version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "SKIP: the aws CLI is not installed\n");
		return 0;
	}
	return 1;
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return ntohs(a.sin_port);
}

static int can_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static int spawn(at_server *s, char *const argv[], const char *auth_env)
{
	if (!owner_pid) {
		owner_pid = getpid();
		atexit(stop_all);
	}
	s->port = free_port();
	if (s->port <= 0)
		return -1;
	char port[16];
	snprintf(port, sizeof port, "%d", s->port);
	for (int i = 0; argv[i]; i++)
		if (strcmp(argv[i], "PORT") == 0)
			((char **)argv)[i] = port;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		FILE *devnull = fopen("/dev/null", "w");
		if (devnull) {
			dup2(fileno(devnull), 1);
			if (!getenv("STKDR_TEST_SERVER_LOG"))
				dup2(fileno(devnull), 2);
		}
		if (auth_env) {
			setenv("MOTO_ENABLE_IAM_AUTH", "true", 1); /* harmless if unknown */
			setenv("INITIAL_NO_AUTH_ACTION_COUNT", auth_env, 1);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	for (int i = 0; i < MAX_SERVERS; i++)
		if (pids[i] == 0) {
			pids[i] = pid;
			break;
		}
	s->pid = pid;
	snprintf(s->endpoint, sizeof s->endpoint, "http://127.0.0.1:%d", s->port);
	for (int i = 0; i < 300; i++) { /* up to 15 s */
		if (can_connect(s->port))
			return 0;
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			for (int j = 0; j < MAX_SERVERS; j++)
				if (pids[j] == pid)
					pids[j] = 0;
			fprintf(stderr, "%s exited before listening\n", argv[0]);
			return -1;
		}
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "%s did not listen on port %d\n", argv[2], s->port);
	at_server_stop(s);
	return -1;
}

int at_moto_start(at_server *s, int auth, int free_actions)
{
	char *argv[] = { "python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", "PORT", NULL };
	char n[16];
	snprintf(n, sizeof n, "%d", free_actions);
	return spawn(s, argv, auth ? n : NULL);
}

int at_mock_start(at_server *s)
{
	char *script = at_source_path("tests/aws/mock_server.py");
	char *argv[] = { "python3", script, "PORT", NULL };
	int rc = spawn(s, argv, NULL);
	stkdr__free(script);
	return rc;
}

void at_server_stop(at_server *s)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	int st;
	for (int i = 0; i < 100; i++) {
		if (waitpid(s->pid, &st, WNOHANG) == s->pid)
			goto reaped;
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, &st, 0);
reaped:
	for (int i = 0; i < MAX_SERVERS; i++)
		if (pids[i] == s->pid)
			pids[i] = 0;
	s->pid = 0;
}

static size_t sink(char *p, size_t size, size_t n, void *ud)
{
	if (ud)
		stkdr_buf_put(ud, p, size * n);
	return size * n;
}

typedef struct rd {
	const uint8_t *p;
	size_t left;
} rd;

static size_t src(char *buf, size_t size, size_t n, void *ud)
{
	rd *r = ud;
	size_t k = size * n < r->left ? size * n : r->left;
	memcpy(buf, r->p, k);
	r->p += k;
	r->left -= k;
	return k;
}

long at_http(const at_server *s, const char *method, const char *path, const char *const *headers, const void *body,
	size_t len, stkdr_buf *out)
{
	CURL *c = curl_easy_init();
	char url[2048];
	snprintf(url, sizeof url, "%s%s", s->endpoint, path);
	struct curl_slist *hl = curl_slist_append(NULL, "Expect:");
	for (size_t i = 0; headers && headers[i]; i++)
		hl = curl_slist_append(hl, headers[i]);
	rd r = { body, len };
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	if (strcmp(method, "PUT") == 0 || (body && strcmp(method, "POST") == 0)) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, src);
		curl_easy_setopt(c, CURLOPT_READDATA, &r);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	}
	if (strcmp(method, "GET") && strcmp(method, "PUT"))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	long status = -1;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return status;
}

void at_moto_reset(const at_server *s)
{
	at_http(s, "POST", "/moto-api/reset", NULL, NULL, 0, NULL);
}

char *at_source_path(const char *rel)
{
	const char *root = getenv("STKDR_TEST_SOURCE_DIR");
	return stkdr__aprintf("%s/%s", root ? root : ".", rel);
}
