/* PostgreSQL service layer: connections, statements, COPY in/out, error mapping (libpq). */
#include "pg.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_CONNECT_TIMEOUT "10"
#define WHAT_MAX 80
#define COPY_IN_CHUNK (64u * 1024u)

struct stkdr__pg {
	PGconn *conn;
	char *desc;
	stkdr__pg_notice_fn notice_fn;
	void *notice_payload;
};

/* Server notices ("WAL archiving is not enabled...") go to the owner's callback, never to stderr: a
 * library does not print. */
static void on_notice(void *arg, const char *message)
{
	stkdr__pg *pg = arg;
	if (pg && pg->notice_fn)
		pg->notice_fn(message, pg->notice_payload);
}

void stkdr__pg_set_notice_fn(stkdr__pg *pg, stkdr__pg_notice_fn fn, void *payload)
{
	if (!pg)
		return;
	pg->notice_fn = fn;
	pg->notice_payload = payload;
}

/* ---- message helpers ---- */

/* Copies `src` into dst (size n) on one line: newlines and tabs become "; " / " ", runs of blanks collapse,
 * trailing blanks and separators go. Occurrences of `secret` (if non-empty) become "***". */
static void one_line(char *dst, size_t n, const char *src, const char *secret, int semicolons)
{
	size_t o = 0;
	size_t slen = secret ? strlen(secret) : 0;
	int pending_sep = 0;
	if (n == 0)
		return;
	for (const char *p = src ? src : ""; *p && o + 1 < n;) {
		if (slen && strncmp(p, secret, slen) == 0) {
			for (const char *r = "***"; *r && o + 1 < n; r++)
				dst[o++] = *r;
			p += slen;
			continue;
		}
		char c = *p++;
		if (c == '\n' || c == '\r') {
			pending_sep = semicolons ? 2 : 1;
			continue;
		}
		if (c == '\t' || c == ' ') {
			if (!pending_sep)
				pending_sep = 1;
			continue;
		}
		if (pending_sep && o > 0) {
			if (pending_sep == 2 && o + 2 < n && dst[o - 1] != ':' && dst[o - 1] != ';')
				dst[o++] = ';';
			if (o + 1 < n)
				dst[o++] = ' ';
		}
		pending_sep = 0;
		if (o + 1 < n)
			dst[o++] = c;
	}
	dst[o] = '\0';
}

/* The start of a statement for messages: at most WHAT_MAX characters on one line, cut before anything that
 * looks like a password clause (ALTER ROLE ... PASSWORD '...'). */
static void stmt_what(char *dst, size_t n, const char *sql)
{
	char tmp[WHAT_MAX * 4];
	one_line(tmp, sizeof tmp, sql, NULL, 0);
	size_t len = strlen(tmp);
	int cut = 0;
	for (size_t i = 0; i < len; i++) {
		if (strncasecmp(tmp + i, "password", 8) == 0) {
			len = i;
			cut = 1;
			break;
		}
	}
	if (len > WHAT_MAX) {
		len = WHAT_MAX;
		cut = 1;
	}
	while (len > 0 && tmp[len - 1] == ' ')
		len--;
	tmp[len] = '\0';
	snprintf(dst, n, "%s%s", tmp, cut ? "..." : "");
}

static int code_for_sqlstate(const char *st)
{
	if (!st || strlen(st) != 5)
		return STKDR_EBACKEND;
	if (strncmp(st, "28", 2) == 0 || strcmp(st, "42501") == 0)
		return STKDR_EAUTH;
	if (strcmp(st, "3D000") == 0 || strcmp(st, "42P01") == 0 || strcmp(st, "42883") == 0)
		return STKDR_ENOTFOUND;
	if (strcmp(st, "23505") == 0 || strcmp(st, "42P04") == 0 || strcmp(st, "42P07") == 0 ||
		strcmp(st, "42710") == 0)
		return STKDR_EEXISTS;
	if (strcmp(st, "57014") == 0)
		return STKDR_ECANCELLED;
	if (strcmp(st, "55P03") == 0 || strcmp(st, "40P01") == 0)
		return STKDR_ELOCKED;
	if (strcmp(st, "53100") == 0)
		return STKDR_ENOSPACE;
	return STKDR_EBACKEND;
}

/* Records the error of a failed result (or, with res NULL, of the connection). */
static int result_error(stkdr__pg *pg, const PGresult *res, const char *sql)
{
	char what[WHAT_MAX + 8];
	char msg[640];
	stmt_what(what, sizeof what, sql);
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!primary || !*primary)
		primary = res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res) : PQerrorMessage(pg->conn);
	one_line(msg, sizeof msg, primary, NULL, 1);
	if (!msg[0])
		snprintf(msg, sizeof msg, "unexpected result status %s",
			res ? PQresStatus(PQresultStatus(res)) : "(none)");
	if (st && *st)
		return stkdr__seterr(code_for_sqlstate(st), STKDR_ERRCLASS_POSTGRES, st, "%s: %s (SQLSTATE %s)", what, msg,
			st);
	if (PQstatus(pg->conn) == CONNECTION_BAD)
		return stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_POSTGRES, "08006",
			"%s: connection to PostgreSQL %s lost: %s (SQLSTATE 08006); check that the server is up and reconnect",
			what, pg->desc, msg);
	return stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_POSTGRES, NULL, "%s: %s", what, msg);
}

static int nomem(const char *what)
{
	return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory %s", what);
}

/* ---- connections ---- */

/* Quoted fragments of a conninfo parse error ("missing \"=\" after \"xyz\"") may be pieces of a password:
 * when the string holds one, keep only fragments that are libpq option names. */
static void redact_parse_error(char *dst, size_t n, const char *err, const char *conninfo)
{
	int has_secret = strcasestr(conninfo, "password") != NULL;
	const char *at = strchr(conninfo, '@');
	if (!has_secret && at && strstr(conninfo, "://")) {
		const char *user = strstr(conninfo, "://") + 3;
		has_secret = memchr(user, ':', (size_t)(at - user)) != NULL;
	}
	if (!has_secret) {
		one_line(dst, n, err, NULL, 1);
		return;
	}
	PQconninfoOption *defs = PQconndefaults();
	char tmp[512];
	size_t o = 0;
	const char *p = err ? err : "";
	while (*p && o + 1 < sizeof tmp) {
		const char *q;
		if (*p == '"' && (q = strchr(p + 1, '"')) != NULL) {
			size_t len = (size_t)(q - p - 1);
			int keep = len == 1 && p[1] == '=';
			for (PQconninfoOption *d = defs; d && d->keyword && !keep; d++)
				keep = strlen(d->keyword) == len && strncmp(d->keyword, p + 1, len) == 0;
			const char *frag = keep ? p : "\"...\"";
			size_t flen = keep ? len + 2 : 5;
			for (size_t i = 0; i < flen && o + 1 < sizeof tmp; i++)
				tmp[o++] = frag[i];
			p = q + 1;
			continue;
		}
		tmp[o++] = *p++;
	}
	tmp[o] = '\0';
	if (defs)
		PQconninfoFree(defs);
	one_line(dst, n, tmp, NULL, 1);
}

static char *describe_conn(PGconn *conn, int replication)
{
	const char *host = PQhost(conn), *port = PQport(conn), *user = PQuser(conn), *db = PQdb(conn);
	return stkdr__aprintf("%s@%s:%s/%s%s", user && *user ? user : "?", host && *host ? host : "localhost",
		port && *port ? port : "5432", db && *db ? db : "?", replication ? " (replication)" : "");
}

static int connect_error(PGconn *conn, const char *password)
{
	char msg[600];
	const char *host = PQhost(conn), *port = PQport(conn), *user = PQuser(conn), *db = PQdb(conn);
	const char *em = PQerrorMessage(conn);
	host = host && *host ? host : "localhost";
	port = port && *port ? port : "5432";
	user = user ? user : "";
	db = db ? db : "";
	one_line(msg, sizeof msg, em, password, 1);
	if (strstr(em, "password authentication failed") || strstr(em, "no pg_hba.conf entry") ||
		strstr(em, "authentication failed") || (strstr(em, "role \"") && strstr(em, "does not exist")) ||
		strstr(em, "no password supplied") || PQconnectionNeedsPassword(conn))
		return stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_POSTGRES, strstr(em, "password") ? "28P01" : "28000",
			"PostgreSQL at %s:%s refused user \"%s\": %s; check the user name and password in the connection "
			"string and the server's pg_hba.conf", host, port, user, msg);
	if (strstr(em, "database \"") && strstr(em, "does not exist"))
		return stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_POSTGRES, "3D000",
			"database \"%s\" does not exist on PostgreSQL at %s:%s: %s; create it or fix dbname in the "
			"connection string", db, host, port, msg);
	if (strstr(em, "timeout expired"))
		return stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_POSTGRES, "08001",
			"cannot connect to PostgreSQL at %s:%s (connect timeout): %s; is the server running and reachable "
			"from here?", host, port, msg);
	return stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_POSTGRES, "08001",
		"cannot connect to PostgreSQL at %s:%s: %s; is the server running, and are host and port right?", host,
		port, msg);
}

int stkdr__pg_connect(stkdr__pg **out, const char *conninfo, int replication)
{
	*out = NULL;
	if (!conninfo)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "PostgreSQL connection string is NULL");
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
	if (!opts) {
		char msg[512];
		if (!perr)
			return nomem("parsing a PostgreSQL connection string");
		redact_parse_error(msg, sizeof msg, perr, conninfo);
		PQfreemem(perr);
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_POSTGRES, NULL,
			"invalid PostgreSQL connection string: %s; use \"key=value ...\" or a postgresql:// URI", msg);
	}
	size_t nopt = 0;
	int has_timeout = 0, has_app = 0;
	const char *password = NULL;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		nopt++;
		if (!o->val)
			continue;
		if (strcmp(o->keyword, "connect_timeout") == 0 && *o->val)
			has_timeout = 1;
		else if (strcmp(o->keyword, "application_name") == 0 || strcmp(o->keyword, "fallback_application_name") == 0)
			has_app = 1;
		else if (strcmp(o->keyword, "password") == 0 && *o->val)
			password = o->val;
	}
	const char **keys = stkdr__calloc(nopt + 4, sizeof *keys);
	const char **vals = stkdr__calloc(nopt + 4, sizeof *vals);
	stkdr__pg *pg = stkdr__calloc(1, sizeof *pg);
	if (!keys || !vals || !pg) {
		stkdr__free(keys);
		stkdr__free(vals);
		stkdr__free(pg);
		PQconninfoFree(opts);
		return nomem("connecting to PostgreSQL");
	}
	size_t k = 0;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val || (replication && strcmp(o->keyword, "replication") == 0))
			continue;
		keys[k] = o->keyword;
		vals[k++] = o->val;
	}
	if (!has_timeout) {
		keys[k] = "connect_timeout";
		vals[k++] = DEFAULT_CONNECT_TIMEOUT;
	}
	if (!has_app) {
		keys[k] = "fallback_application_name";
		vals[k++] = "libstkdr";
	}
	if (replication) {
		keys[k] = "replication";
		vals[k++] = "true";
	}
	keys[k] = NULL;
	vals[k] = NULL;
	PGconn *conn = PQconnectdbParams(keys, vals, 0);
	int rc = 0;
	if (!conn)
		rc = nomem("connecting to PostgreSQL");
	else if (PQstatus(conn) != CONNECTION_OK)
		rc = connect_error(conn, password);
	else if (!(pg->desc = describe_conn(conn, replication)))
		rc = nomem("describing a PostgreSQL connection");
	stkdr__free(keys);
	stkdr__free(vals);
	PQconninfoFree(opts); /* after connect_error: `password` points into it */
	if (rc) {
		if (conn)
			PQfinish(conn);
		stkdr__free(pg);
		return rc;
	}
	pg->conn = conn;
	PQsetNoticeProcessor(conn, on_notice, pg);
	*out = pg;
	return 0;
}

void stkdr__pg_close(stkdr__pg *pg)
{
	if (!pg)
		return;
	if (pg->conn)
		PQfinish(pg->conn);
	stkdr__free(pg->desc);
	stkdr__free(pg);
}

void *stkdr__pg_conn(stkdr__pg *pg)
{
	return pg ? pg->conn : NULL;
}

int stkdr__pg_server_version(stkdr__pg *pg)
{
	return pg ? PQserverVersion(pg->conn) : 0;
}

const char *stkdr__pg_describe(stkdr__pg *pg)
{
	return pg && pg->desc ? pg->desc : "(no connection)";
}

/* ---- statements ---- */

static PGresult *run(stkdr__pg *pg, const char *sql, int nparams, const char *const *params)
{
	if (nparams > 0)
		return PQexecParams(pg->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	return PQexec(pg->conn, sql);
}

/* Reads and discards the results left after a COPY or a failure; returns the connection to idle. */
static void drain(stkdr__pg *pg)
{
	PGresult *r;
	while ((r = PQgetResult(pg->conn)) != NULL) {
		ExecStatusType s = PQresultStatus(r);
		PQclear(r);
		if (s == PGRES_COPY_IN)
			PQputCopyEnd(pg->conn, "unexpected COPY FROM STDIN");
		else if (s == PGRES_COPY_OUT) {
			char *d = NULL;
			while (PQgetCopyData(pg->conn, &d, 0) > 0)
				PQfreemem(d);
		} else if (s == PGRES_COPY_BOTH) {
			break;
		}
	}
}

static int bad_args(stkdr__pg *pg, const char *sql, const char *fn)
{
	if (!pg || !pg->conn || !sql)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "%s: connection or statement is NULL", fn);
	return 0;
}

int stkdr__pg_exec(stkdr__pg *pg, void **out_res, const char *sql, int nparams, const char *const *params)
{
	if (out_res)
		*out_res = NULL;
	int rc = bad_args(pg, sql, "stkdr__pg_exec");
	if (rc)
		return rc;
	PGresult *res = run(pg, sql, nparams, params);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	switch (st) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
	case PGRES_SINGLE_TUPLE:
	case PGRES_COPY_BOTH:
		break;
	case PGRES_COPY_IN:
	case PGRES_COPY_OUT: {
		char what[WHAT_MAX + 8];
		PQclear(res);
		drain(pg);
		stmt_what(what, sizeof what, sql);
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"%s: COPY must run through stkdr__pg_copy_out/stkdr__pg_copy_in", what);
	}
	default:
		rc = result_error(pg, res, sql);
		PQclear(res);
		return rc;
	}
	if (out_res)
		*out_res = res;
	else
		PQclear(res);
	return 0;
}

int stkdr__pg_query_value(stkdr__pg *pg, stkdr_buf *out, int *is_null, const char *sql, int nparams,
	const char *const *params)
{
	void *v = NULL;
	if (is_null)
		*is_null = 0;
	int rc = stkdr__pg_exec(pg, &v, sql, nparams, params);
	if (rc)
		return rc;
	PGresult *res = v;
	if (PQntuples(res) < 1 || PQnfields(res) < 1) {
		char what[WHAT_MAX + 8];
		PQclear(res);
		stmt_what(what, sizeof what, sql);
		return stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_POSTGRES, NULL, "%s: returned no rows", what);
	}
	if (PQgetisnull(res, 0, 0)) {
		if (is_null)
			*is_null = 1;
		rc = stkdr_buf_set(out, "", 0);
	} else {
		rc = stkdr_buf_set(out, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
	}
	PQclear(res);
	return rc;
}

/* ---- COPY ---- */

/* Starts a COPY statement and checks that the server entered `want`. */
static int copy_start(stkdr__pg *pg, const char *sql, ExecStatusType want)
{
	PGresult *res = PQexec(pg->conn, sql);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st == want) {
		PQclear(res);
		return 0;
	}
	int rc;
	if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR) {
		rc = result_error(pg, res, sql);
	} else {
		char what[WHAT_MAX + 8];
		stmt_what(what, sizeof what, sql);
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "%s: not a COPY %s statement (status %s)",
			what, want == PGRES_COPY_OUT ? "TO STDOUT" : "FROM STDIN", PQresStatus(st));
	}
	PQclear(res);
	drain(pg);
	return rc;
}

static void cancel_query(stkdr__pg *pg)
{
	PGcancel *c = PQgetCancel(pg->conn);
	if (c) {
		char eb[256];
		PQcancel(c, eb, (int)sizeof eb);
		PQfreeCancel(c);
	}
}

int stkdr__pg_copy_out(stkdr__pg *pg, const char *sql, stkdr__sink *sink, int64_t *bytes_out)
{
	int64_t total = 0;
	if (bytes_out)
		*bytes_out = 0;
	int rc = bad_args(pg, sql, "stkdr__pg_copy_out");
	if (!rc && !sink)
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr__pg_copy_out: sink is NULL");
	if (rc || (rc = copy_start(pg, sql, PGRES_COPY_OUT)) != 0)
		return rc;
	int n;
	for (;;) {
		char *data = NULL;
		n = PQgetCopyData(pg->conn, &data, 0);
		if (n <= 0)
			break;
		if (rc == 0) {
			rc = stkdr__sink_write(sink, data, (size_t)n);
			if (rc)
				cancel_query(pg); /* keep reading until the server stops; the data is discarded */
			else
				total += n;
		}
		PQfreemem(data);
	}
	/* n == -1: the COPY is done, its status follows; n == -2: failure (reported by the result or conn). */
	int got_result = 0;
	PGresult *res;
	while ((res = PQgetResult(pg->conn)) != NULL) {
		ExecStatusType st = PQresultStatus(res);
		got_result = 1;
		if (st != PGRES_COMMAND_OK && rc == 0)
			rc = result_error(pg, res, sql);
		PQclear(res);
		if (st == PGRES_COPY_OUT || st == PGRES_COPY_IN || st == PGRES_COPY_BOTH)
			break; /* cannot happen for a single COPY statement; avoid looping */
	}
	if (n == -2 && !got_result && rc == 0)
		rc = result_error(pg, NULL, sql);
	if (bytes_out)
		*bytes_out = total;
	return rc;
}

int stkdr__pg_copy_in(stkdr__pg *pg, const char *sql, stkdr__pg_read_fn rd, void *payload, int64_t *rows_out)
{
	if (rows_out)
		*rows_out = 0;
	int rc = bad_args(pg, sql, "stkdr__pg_copy_in");
	if (!rc && !rd)
		rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr__pg_copy_in: read callback is NULL");
	if (rc || (rc = copy_start(pg, sql, PGRES_COPY_IN)) != 0)
		return rc;
	uint8_t *buf = stkdr__malloc(COPY_IN_CHUNK);
	int send_failed = 0;
	const char *abort_msg = NULL;
	if (!buf) {
		rc = nomem("for a COPY FROM STDIN buffer");
		abort_msg = "out of memory in the client";
	}
	while (!abort_msg) {
		size_t n = 0;
		int r = rd(buf, COPY_IN_CHUNK, &n, payload);
		if (r < 0) {
			rc = stkdr__err_ensure(r);
			abort_msg = "aborted by the client";
			break;
		}
		if (n == 0)
			break;
		if (n > COPY_IN_CHUNK) {
			rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
				"COPY FROM STDIN read callback returned %zu bytes for a %u-byte buffer", n, COPY_IN_CHUNK);
			abort_msg = "client error";
			break;
		}
		if (PQputCopyData(pg->conn, (const char *)buf, (int)n) != 1) {
			send_failed = 1;
			break;
		}
	}
	stkdr__free(buf);
	if (!send_failed && PQputCopyEnd(pg->conn, abort_msg) != 1)
		send_failed = 1;
	int ok = 0;
	PGresult *res;
	while ((res = PQgetResult(pg->conn)) != NULL) {
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_COMMAND_OK) {
			ok = 1;
			if (rows_out)
				*rows_out = strtoll(PQcmdTuples(res), NULL, 10);
		} else if (rc == 0 && st != PGRES_COPY_IN) {
			rc = result_error(pg, res, sql);
		}
		PQclear(res);
		if (st == PGRES_COPY_IN) {
			/* still in COPY after a send failure: end it so the connection stays usable */
			if (PQputCopyEnd(pg->conn, "client error") != 1)
				break;
		}
	}
	if (rc == 0 && (send_failed || !ok))
		rc = result_error(pg, NULL, sql);
	return rc;
}
