/* Test harness for the AWS backends (see awstest.h). */
#include "awstest.h"

#include "backends/aws/aws.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
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

static void iam(const at_server *moto_auth, const char *body, stkdr_buf *out)
{
	const char *h[] = { "Authorization: AWS4-HMAC-SHA256 Credential=AKIAX/20260101/us-east-1/iam/aws4_request, "
			    "SignedHeaders=host, Signature=0",
		"Content-Type: application/x-www-form-urlencoded", NULL };
	long st = at_http(moto_auth, "POST", "/", h, body, strlen(body), out);
	ck_assert_msg(st == 200, "IAM %s: HTTP %ld", body, st);
}

static void xml_value(char *out, size_t cap, const char *xml, const char *tag)
{
	char open[64], close[64];
	snprintf(open, sizeof open, "<%s>", tag);
	snprintf(close, sizeof close, "</%s>", tag);
	const char *a = xml ? strstr(xml, open) : NULL;
	const char *b = a ? strstr(a, close) : NULL;
	ck_assert_msg(a && b, "no <%s> in %s", tag, xml ? xml : "(null)");
	a += strlen(open);
	snprintf(out, cap, "%.*s", (int)(b - a), a);
}

void at_moto_iam_key(const at_server *moto_auth, char *ak, size_t ak_cap, char *sk, size_t sk_cap)
{
	stkdr_buf out = STKDR_BUF_INIT;
	iam(moto_auth, "Action=CreateUser&UserName=stkdr&Version=2010-05-08", NULL);
	iam(moto_auth, "Action=CreateAccessKey&UserName=stkdr&Version=2010-05-08", &out);
	stkdr_buf_put(&out, "", 1);
	xml_value(ak, ak_cap, out.ptr, "AccessKeyId");
	xml_value(sk, sk_cap, out.ptr, "SecretAccessKey");
	iam(moto_auth, "Action=PutUserPolicy&UserName=stkdr&PolicyName=all&Version=2010-05-08&PolicyDocument="
	    "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C"
	    "%22Action%22%3A%22*%22%2C%22Resource%22%3A%22*%22%7D%5D%7D", NULL);
	stkdr_buf_dispose(&out);
}

void at_mock_script(const at_server *mock, const char *json)
{
	ck_assert_int_eq(at_http(mock, "POST", "/__script", NULL, json, strlen(json), NULL), 200);
}

void at_mock_log(const at_server *mock, stkdr_buf *out)
{
	out->size = 0;
	ck_assert_int_eq(at_http(mock, "GET", "/__log", NULL, NULL, 0, out), 200);
	stkdr_buf_put(out, "", 1);
}

int at_mock_requests(const at_server *mock)
{
	stkdr_buf b = STKDR_BUF_INIT;
	at_mock_log(mock, &b);
	int n = 0;
	for (const char *p = b.ptr; p && (p = strstr(p, "\"method\"")) != NULL; p++)
		n++;
	stkdr_buf_dispose(&b);
	return n;
}

int at_main(Suite *(*make)(void), at_server *moto, at_server *mock, at_server *moto_auth, int *have_cli)
{
	at_env();
	if (!at_available(0))
		return 77;
	*have_cli = at_available(1);
	if (at_moto_start(moto, 0, 0) != 0 || at_mock_start(mock) != 0) {
		fprintf(stderr, "could not start moto or the mock server\n");
		return 1;
	}
	if (moto_auth && at_moto_start(moto_auth, 1, 3) != 0)
		fprintf(stderr, "could not start moto with authentication: that test is skipped\n");
	int rc = tu_run_suite(make());
	if (moto_auth)
		at_server_stop(moto_auth);
	at_server_stop(moto);
	at_server_stop(mock);
	return rc;
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

/* ---- counting TCP proxy ---- */

typedef struct relay {
	int a, b;
} relay;

static int pump(int from, int to)
{
	char buf[65536];
	ssize_t n = read(from, buf, sizeof buf);
	if (n <= 0)
		return -1;
	for (ssize_t off = 0; off < n;) {
		ssize_t k = write(to, buf + off, (size_t)(n - off));
		if (k <= 0)
			return -1;
		off += k;
	}
	return 0;
}

static void *relay_thread(void *ud)
{
	relay *r = ud;
	struct pollfd pf[2] = { { r->a, POLLIN, 0 }, { r->b, POLLIN, 0 } };
	for (;;) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if ((pf[0].revents & (POLLIN | POLLHUP | POLLERR)) && pump(r->a, r->b) != 0)
			break;
		if ((pf[1].revents & (POLLIN | POLLHUP | POLLERR)) && pump(r->b, r->a) != 0)
			break;
	}
	close(r->a);
	close(r->b);
	free(r);
	return NULL;
}

static void *accept_thread(void *ud)
{
	at_proxy *p = ud;
	for (;;) {
		int c = accept(p->listen_fd, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR)
				continue;
			break; /* at_proxy_stop shut the socket down */
		}
		__atomic_add_fetch(&p->accepted, 1, __ATOMIC_SEQ_CST);
		int t = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a;
		memset(&a, 0, sizeof a);
		a.sin_family = AF_INET;
		a.sin_port = htons((uint16_t)p->target_port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		relay *r = malloc(sizeof *r);
		pthread_t th;
		if (t < 0 || !r || connect(t, (struct sockaddr *)&a, sizeof a) != 0) {
			close(c);
			if (t >= 0)
				close(t);
			free(r);
			continue;
		}
		r->a = c;
		r->b = t;
		if (pthread_create(&th, NULL, relay_thread, r) != 0) {
			close(c);
			close(t);
			free(r);
			continue;
		}
		pthread_detach(th);
	}
	return NULL;
}

int at_proxy_start(at_proxy *p, const at_server *target)
{
	memset(p, 0, sizeof *p);
	p->target_port = target->port;
	p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof a;
	if (p->listen_fd < 0 || bind(p->listen_fd, (struct sockaddr *)&a, sizeof a) != 0
		|| getsockname(p->listen_fd, (struct sockaddr *)&a, &len) != 0 || listen(p->listen_fd, 64) != 0) {
		if (p->listen_fd >= 0)
			close(p->listen_fd);
		return -1;
	}
	p->port = ntohs(a.sin_port);
	snprintf(p->endpoint, sizeof p->endpoint, "http://127.0.0.1:%d", p->port);
	pthread_t *th = malloc(sizeof *th);
	if (!th || pthread_create(th, NULL, accept_thread, p) != 0) {
		free(th);
		close(p->listen_fd);
		return -1;
	}
	p->thread = th;
	return 0;
}

int at_proxy_accepted(at_proxy *p)
{
	return __atomic_load_n(&p->accepted, __ATOMIC_SEQ_CST);
}

void at_proxy_stop(at_proxy *p)
{
	if (!p->thread)
		return;
	shutdown(p->listen_fd, SHUT_RDWR);
	pthread_join(*(pthread_t *)p->thread, NULL);
	close(p->listen_fd);
	free(p->thread);
	p->thread = NULL;
}

int at_chunked_decode(stkdr_buf *out, const uint8_t *body, size_t n, const uint8_t *key, const char *amz_date,
	const char *scope, const char *seed, char *err, size_t err_cap)
{
	char prev[65];
	snprintf(prev, sizeof prev, "%s", seed ? seed : "");
	size_t p = 0;
	for (int chunk = 1;; chunk++) {
		const uint8_t *eol = NULL;
		for (size_t i = p; i + 1 < n; i++)
			if (body[i] == '\r' && body[i + 1] == '\n') {
				eol = body + i;
				break;
			}
		if (!eol) {
			snprintf(err, err_cap, "chunk %d at byte %zu: no CRLF after its header", chunk, p);
			return -1;
		}
		char line[160];
		size_t ll = (size_t)(eol - (body + p));
		if (ll >= sizeof line) {
			snprintf(err, err_cap, "chunk %d at byte %zu: header of %zu bytes", chunk, p, ll);
			return -1;
		}
		memcpy(line, body + p, ll);
		line[ll] = '\0';
		char *semi = strchr(line, ';'), *end = NULL;
		unsigned long size = strtoul(line, &end, 16);
		if (!semi || end != semi || semi == line || strncmp(semi, ";chunk-signature=", 17) != 0
			|| strlen(semi + 17) != 64) {
			snprintf(err, err_cap, "chunk %d at byte %zu: malformed header '%s'", chunk, p, line);
			return -1;
		}
		p += ll + 2;
		if (n - p < size + 2 || body[p + size] != '\r' || body[p + size + 1] != '\n') {
			snprintf(err, err_cap, "chunk %d: %lu bytes announced, %zu left or no CRLF after them", chunk, size, n - p);
			return -1;
		}
		if (key) {
			char want[65];
			stkdr__sigv4_chunk_signature(want, key, amz_date, scope, prev, body + p, size);
			if (strcmp(want, semi + 17) != 0) {
				snprintf(err, err_cap, "chunk %d: signature %s, expected %s", chunk, semi + 17, want);
				return -1;
			}
			memcpy(prev, want, sizeof prev);
		}
		if (size && stkdr_buf_put(out, body + p, size) != 0) {
			snprintf(err, err_cap, "out of memory");
			return -1;
		}
		p += size + 2;
		if (size == 0)
			break;
	}
	if (p != n) {
		snprintf(err, err_cap, "%zu bytes after the final chunk", n - p);
		return -1;
	}
	return 0;
}
