/* stk framework: exit codes, output, the context and its callbacks, progress display. */
#include "cli.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* ---- exit codes ---- */

int cli_exit_code(int code, int klass)
{
	switch (code) {
	case STKDR_OK:
		return CLI_EXIT_OK;
	case STKDR_ENOTFOUND:
		return CLI_EXIT_NOTFOUND;
	case STKDR_ECORRUPT:
		return CLI_EXIT_CORRUPT;
	case STKDR_EAUTH:
		return CLI_EXIT_AUTH;
	case STKDR_ETIMEOUT:
		return CLI_EXIT_TIMEOUT;
	case STKDR_EBACKEND:
		return CLI_EXIT_UNAVAILABLE;
	case STKDR_ELOCKED:
	case STKDR_EIMMUTABLE:
		return CLI_EXIT_LOCKED;
	case STKDR_EPENDING:
		return CLI_EXIT_PENDING;
	case STKDR_ERROR:
	case STKDR_EINVAL:
	case STKDR_EIO:
		/* The generic codes are refined by where the error came from. */
		if (klass == STKDR_ERRCLASS_CONFIG)
			return CLI_EXIT_CONFIG;
		if (klass == STKDR_ERRCLASS_NET)
			return CLI_EXIT_UNAVAILABLE;
		return CLI_EXIT_FAILURE;
	default:
		/* EEXISTS, ENOTSUPPORTED, ECANCELLED, EVERSION, ENOMEM, ENOSPACE, EUSER, unknown codes. */
		return code > 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
	}
}

/* ---- output ---- */

static void put_line(FILE *f, const char *prefix, const char *msg)
{
	fputs(prefix, f);
	for (const char *p = msg; *p; p++)
		fputc(*p == '\n' || *p == '\r' ? ' ' : *p, f);
	fputc('\n', f);
	fflush(f);
}

static void vline(const char *fmt, va_list ap)
{
	char msg[2048];
	vsnprintf(msg, sizeof msg, fmt, ap);
	put_line(stderr, "stk: ", msg);
}

void cli_errorf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vline(fmt, ap);
	va_end(ap);
}

int cli_usage(const cli *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (c && c->cmd)
		cli_errorf("%s (see stk %s --help)", msg, c->cmd->words);
	else
		cli_errorf("%s (see stk --help)", msg);
	return CLI_EXIT_USAGE;
}

int cli_fail(cli *c, int rc)
{
	const stkdr_error *e = c && c->ctx ? stkdr_ctx_last_error(c->ctx) : stkdr_error_last();
	const char *msg = e->message && e->message[0] ? e->message : stkdr_strerror(rc);
	int klass = e->code == rc ? e->klass : STKDR_ERRCLASS_NONE;
	if (c)
		cli_progress_finish(c);
	cli_errorf("%s", msg);
	return cli_exit_code(rc, klass);
}

void cli_info(const cli *c, const char *fmt, ...)
{
	if (c->quiet || c->json)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
}

int cli_json_print(cJSON *doc)
{
	if (!doc) {
		cli_errorf("out of memory");
		return CLI_EXIT_FAILURE;
	}
	char *text = cJSON_Print(doc);
	cJSON_Delete(doc);
	if (!text) {
		cli_errorf("out of memory");
		return CLI_EXIT_FAILURE;
	}
	int rc = cli_json_print_text(text);
	cJSON_free(text);
	return rc;
}

int cli_json_print_text(const char *text)
{
	size_t n = strlen(text);
	if (fwrite(text, 1, n, stdout) != n || (n && text[n - 1] != '\n' && fputc('\n', stdout) == EOF) ||
		fflush(stdout) != 0) {
		cli_errorf("cannot write the output");
		return CLI_EXIT_FAILURE;
	}
	return CLI_EXIT_OK;
}

/* ---- options of the current command ---- */

static int opt_index(const cli *c, const char *name)
{
	if (!c->cmd || !c->cmd->options)
		return -1;
	for (int i = 0; c->cmd->options[i].name && i < CLI_MAX_OPTIONS; i++)
		if (strcmp(c->cmd->options[i].name, name) == 0)
			return i;
	return -1;
}

const char *cli_opt(const cli *c, const char *name)
{
	int i = opt_index(c, name);
	return i >= 0 ? c->optval[i] : NULL;
}

int cli_flag(const cli *c, const char *name)
{
	int i = opt_index(c, name);
	return i >= 0 ? c->optcount[i] : 0;
}

/* ---- progress ---- */

/* Set by SIGINT while a context is open: the next progress event cancels the operation. The handler
 * is one-shot (SA_RESETHAND), so a second Ctrl-C kills the program as usual. */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_format_bytes(char *out, size_t out_len, int64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)(bytes < 0 ? 0 : bytes);
	size_t u = 0;
	while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(out, out_len, "%d B", (int)v);
	else
		snprintf(out, out_len, "%.1f %s", v, units[u]);
}

void cli_format_eta(char *out, size_t out_len, int64_t seconds)
{
	if (seconds < 0)
		seconds = 0;
	int64_t h = seconds / 3600, m = seconds / 60 % 60, s = seconds % 60;
	if (h)
		snprintf(out, out_len, "%lld:%02d:%02d", (long long)h, (int)m, (int)s);
	else
		snprintf(out, out_len, "%d:%02d", (int)m, (int)s);
}

static void progress_clear(cli_progress *p)
{
	if (p->shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		p->shown = 0;
	}
}

void cli_progress_finish(cli *c)
{
	if (c->progress.shown) {
		fputc('\n', stderr);
		fflush(stderr);
		c->progress.shown = 0;
	}
	c->progress.name[0] = '\0';
}

static void progress_draw(cli_progress *p, const stkdr_event *ev, double now)
{
	char line[512], done[32], total[32], rate[32], eta[32];
	double elapsed = now - p->start;
	double bps = elapsed > 0.5 ? (double)ev->done / elapsed : 0.0;
	int n;

	cli_format_bytes(done, sizeof done, ev->done);
	if (ev->total >= 0) {
		cli_format_bytes(total, sizeof total, ev->total);
		int pct = ev->total > 0 ? (int)(100.0 * (double)ev->done / (double)ev->total) : 100;
		n = snprintf(line, sizeof line, "%s: %s / %s %3d%%", p->name, done, total, pct > 100 ? 100 : pct);
	} else {
		n = snprintf(line, sizeof line, "%s: %s", p->name, done);
	}
	if (n > 0 && (size_t)n < sizeof line && bps > 0) {
		cli_format_bytes(rate, sizeof rate, (int64_t)bps);
		n += snprintf(line + n, sizeof line - (size_t)n, "  %s/s", rate);
		if (ev->total > ev->done && (size_t)n < sizeof line) {
			cli_format_eta(eta, sizeof eta, (int64_t)((double)(ev->total - ev->done) / bps));
			snprintf(line + n, sizeof line - (size_t)n, "  ETA %s", eta);
		}
	}
	struct winsize ws;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 && (size_t)ws.ws_col - 1 < sizeof line)
		line[ws.ws_col - 1] = '\0';
	fprintf(stderr, "\r\033[K%s", line);
	fflush(stderr);
	p->shown = 1;
	p->last_draw = now;
}

static int on_event(const stkdr_event *ev, void *payload)
{
	cli *c = payload;
	cli_progress *p = &c->progress;

	if (ev->type == STKDR_EVENT_PROGRESS) {
		if (interrupted)
			return STKDR_ECANCELLED;
		if (!p->enabled)
			return 0;
		char name[sizeof p->name];
		snprintf(name, sizeof name, "%s%s%s", ev->name, ev->subject && ev->subject[0] ? " " : "",
			ev->subject ? ev->subject : "");
		double now = now_s();
		if (strcmp(name, p->name) != 0) {
			cli_progress_finish(c);
			snprintf(p->name, sizeof p->name, "%s", name);
			p->start = now;
			p->last_draw = 0;
		}
		int last = ev->total >= 0 && ev->done >= ev->total;
		if (last || now - p->last_draw >= 0.1)
			progress_draw(p, ev, now);
		if (last)
			cli_progress_finish(c);
		return 0;
	}
	if (ev->type == STKDR_EVENT_ACTION && c->log_level >= STKDR_LOG_INFO) {
		progress_clear(p);
		fprintf(stderr, "stk: [info] event: %s%s%s\n", ev->name, ev->subject && ev->subject[0] ? " " : "",
			ev->subject ? ev->subject : "");
		fflush(stderr);
	}
	return 0;
}

/* ---- logging ---- */

static const char *level_name(int level)
{
	switch (level) {
	case STKDR_LOG_FATAL: return "fatal";
	case STKDR_LOG_ERROR: return "error";
	case STKDR_LOG_WARN: return "warn";
	case STKDR_LOG_INFO: return "info";
	case STKDR_LOG_DEBUG: return "debug";
	case STKDR_LOG_TRACE: return "trace";
	default: return "log";
	}
}

static void on_log(int level, const char *component, const char *msg, void *payload)
{
	cli *c = payload;
	char prefix[128];
	progress_clear(&c->progress);
	snprintf(prefix, sizeof prefix, "stk: [%s] %s: ", level_name(level), component ? component : "stkdr");
	put_line(stderr, prefix, msg ? msg : "");
}

/* ---- context ---- */

const char *cli_config_name(const cli *c)
{
	return c->config_path ? c->config_path : "(environment)";
}

int cli_open(cli *c)
{
	stkdr_ctx_options opts = STKDR_CTX_OPTIONS_INIT;
	if (c->ctx)
		return 0;
	opts.config_path = c->config_path;
	if (!c->config_path)
		opts.flags |= STKDR_CTX_NO_DEFAULT_FILE; /* $STKDR_CONFIG was looked at already */
	int rc = stkdr_ctx_new(&c->ctx, &opts);
	if (rc != 0) {
		const stkdr_error *e = stkdr_error_last();
		c->ctx = NULL;
		cli_errorf("%s", e->message && e->message[0] ? e->message : stkdr_strerror(rc));
		return rc == STKDR_ENOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_CONFIG;
	}
	stkdr_ctx_set_log_callback(c->ctx, c->log_level, on_log, c);
	c->progress.enabled = !c->quiet && isatty(STDERR_FILENO);
	stkdr_ctx_set_event_callback(c->ctx, on_event, c);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigint;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL); /* service managers stop long commands (wal receive) with SIGTERM */

	if (!c->config_path && c->log_level >= STKDR_LOG_INFO)
		on_log(STKDR_LOG_INFO, "cli", "no configuration file (--config or STKDR_CONFIG): using the environment "
			"and defaults", c);
	return 0;
}
