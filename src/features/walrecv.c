/*
 * The streaming WAL receiver (`stk wal receive`): the replication protocol's physical streaming, into
 * the archive. Completed segments are archived like `stk wal push` (content-addressed, idempotent, so
 * archive_command may run too); the segment in progress is uploaded as a partial every few seconds.
 * The replication slot is confirmed only up to the end of the last segment archived complete.
 */
#include "wal.h"
#include "repo.h"
#include "snapshot.h"
#include "core/timeutil.h"
#include "services/pg.h"
#include "stkdr/wal.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

int stkdr_wal_receive_options_init(stkdr_wal_receive_options *opts, unsigned int version)
{
	return stkdr__options_init(opts, sizeof *opts, version, STKDR_WAL_RECEIVE_OPTIONS_VERSION,
		"stkdr_wal_receive_options");
}

static uint64_t get_u64(const char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | (uint8_t)p[i];
	return v;
}

static void put_u64(char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (char)(v & 0xff);
		v >>= 8;
	}
}

typedef struct walrecv_state {
	stkdr_ctx *ctx;
	stkdr__pg *pg;
	PGconn *conn;
	uint32_t tli;
	int64_t seg_size;
	uint8_t *seg;        /* the segment being received, zero-filled beyond what arrived */
	uint64_t seg_start;  /* LSN of its first byte */
	uint64_t received;   /* LSN up to which data arrived */
	uint64_t archived;   /* LSN up to which complete segments are archived (confirmed to the server) */
	uint64_t partial_at; /* `received` when the last partial was uploaded */
	int64_t bytes;
} walrecv_state;

static void segname(walrecv_state *r, char *out, size_t n)
{
	stkdr__wal_segname(out, n, r->tli, r->seg_start / (uint64_t)r->seg_size, r->seg_size);
}

static int upload_partial(walrecv_state *r)
{
	if (r->received <= r->seg_start || r->received == r->partial_at)
		return 0;
	char name[48], base[32];
	segname(r, base, sizeof base);
	snprintf(name, sizeof name, "%s.partial", base);
	int rc = stkdr__wal_push_mem(r->ctx, name, r->seg, (size_t)r->seg_size, NULL);
	if (!rc)
		r->partial_at = r->received;
	return rc;
}

/* A complete segment: archive it, drop its partial uploads, move on. */
static int complete_segment(walrecv_state *r)
{
	char name[32];
	segname(r, name, sizeof name);
	int rc = stkdr__wal_push_mem(r->ctx, name, r->seg, (size_t)r->seg_size, NULL);
	if (rc) {
		stkdr__err_prefix("streaming receiver: archiving %s", name);
		return rc;
	}
	stkdr__emit(r->ctx, STKDR_EVENT_ACTION, "wal.received", name, 0, 0, 1, NULL);
	/* superseded partial uploads of this segment */
	stkdr_objstore *os;
	char rel[96];
	snprintf(rel, sizeof rel, "wal/%.8s/%s.partial-", name, name);
	char *prefix = stkdr__repo_key(r->ctx, rel);
	char **keys = NULL;
	size_t n = 0;
	if (prefix && stkdr__ctx_objstore(&os, r->ctx) == 0 && stkdr__repo_list(&keys, &n, r->ctx, prefix) == 0)
		for (size_t i = 0; i < n; i++)
			os->del(os, keys[i], 0);
	stkdr__strv_free(keys);
	stkdr__free(prefix);
	stkdr_error_clear();
	r->archived = r->seg_start + (uint64_t)r->seg_size;
	r->seg_start += (uint64_t)r->seg_size;
	r->partial_at = r->seg_start;
	memset(r->seg, 0, (size_t)r->seg_size);
	return 0;
}

static int send_status(walrecv_state *r, int reply)
{
	char msg[1 + 8 + 8 + 8 + 8 + 1];
	int64_t now_us = stkdr__time_now_ms() * 1000 - 946684800000000LL; /* since 2000-01-01 */
	msg[0] = 'r';
	put_u64(msg + 1, r->received);
	put_u64(msg + 9, r->archived);
	put_u64(msg + 17, 0);
	put_u64(msg + 25, (uint64_t)now_us);
	msg[33] = (char)reply;
	if (PQputCopyData(r->conn, msg, sizeof msg) <= 0 || PQflush(r->conn) < 0)
		return stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_POSTGRES, NULL,
			"streaming receiver: cannot send status to %s: %s", stkdr__pg_describe(r->pg), PQerrorMessage(r->conn));
	return 0;
}

static int on_xlogdata(walrecv_state *r, const char *buf, int len)
{
	if (len < 25)
		return stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_POSTGRES, NULL, "streaming receiver: short XLogData");
	uint64_t start = get_u64(buf + 1);
	const char *data = buf + 25;
	size_t n = (size_t)(len - 25);
	if (start < r->seg_start || start > r->received + 1 || start != r->received)
		return stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_POSTGRES, NULL,
			"streaming receiver: WAL arrived out of order (at %" PRIX64 ", expected %" PRIX64 ")", start, r->received);
	while (n > 0) {
		uint64_t off = r->received - r->seg_start;
		size_t room = (size_t)((uint64_t)r->seg_size - off);
		size_t k = n < room ? n : room;
		memcpy(r->seg + off, data, k);
		r->received += k;
		r->bytes += (int64_t)k;
		data += k;
		n -= k;
		if (r->received == r->seg_start + (uint64_t)r->seg_size) {
			int rc = complete_segment(r);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* Runs a replication command returning one row; value of column `col` of it. */
static int repl_value(stkdr__pg *pg, stkdr_buf *out, int *is_null, const char *cmd, int col)
{
	void *res = NULL;
	int rc = stkdr__pg_exec(pg, &res, cmd, 0, NULL);
	if (rc)
		return rc;
	PGresult *pr = res;
	if (PQntuples(pr) < 1 || PQnfields(pr) <= col) {
		PQclear(pr);
		return stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_POSTGRES, NULL, "%s returned no row", cmd);
	}
	*is_null = PQgetisnull(pr, 0, col);
	rc = stkdr_buf_set(out, PQgetvalue(pr, 0, col), strlen(PQgetvalue(pr, 0, col)));
	PQclear(pr);
	return rc;
}

int stkdr_wal_receive(stkdr_ctx *ctx, const stkdr_wal_receive_options *opts)
{
	if (!ctx)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_wal_receive: ctx is NULL");
	stkdr_error_clear();
	stkdr_wal_receive_options o;
	stkdr_wal_receive_options_init(&o, STKDR_WAL_RECEIVE_OPTIONS_VERSION);
	if (opts) {
		if (opts->version == 0 || opts->version > STKDR_WAL_RECEIVE_OPTIONS_VERSION)
			return stkdr__ctx_result(ctx, stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_INTERNAL, NULL,
				"stkdr_wal_receive_options version %u is not supported", opts->version));
		o = *opts;
	}
	const char *conninfo;
	int rc = stkdr__cfg_require_str(&conninfo, ctx, "postgres.conninfo");
	if (rc)
		return stkdr__ctx_result(ctx, rc);
	char slot[64];
	const char *cfg_slot = o.slot ? o.slot : stkdr__cfg_str(ctx, "wal.slot");
	if (cfg_slot) {
		snprintf(slot, sizeof slot, "%s", cfg_slot);
	} else {
		const char *dep = stkdr__cfg_str(ctx, "deployment");
		snprintf(slot, sizeof slot, "stkdr_%s", dep ? dep : "receiver");
		for (char *c = slot; *c; c++)
			*c = isalnum((unsigned char)*c) ? (char)tolower((unsigned char)*c) : '_';
	}
	for (const char *c = slot; *c; c++)
		if (!islower((unsigned char)*c) && !isdigit((unsigned char)*c) && *c != '_')
			return stkdr__ctx_result(ctx, stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
				"wal.slot \"%s\": a slot name has only lower-case letters, digits and '_'", slot));
	int64_t partial_ms = o.partial_interval_ms > 0 ? o.partial_interval_ms
						    : stkdr__cfg_int(ctx, "wal.partial_interval", 5000);
	int64_t status_ms = o.status_interval_ms > 0 ? o.status_interval_ms : 10000;

	walrecv_state r;
	memset(&r, 0, sizeof r);
	r.ctx = ctx;
	stkdr_buf v = STKDR_BUF_INIT;
	int is_null = 0;
	if ((rc = stkdr__pg_connect(&r.pg, conninfo, 1)) != 0)
		goto out;
	r.conn = stkdr__pg_conn(r.pg);
	if ((rc = repl_value(r.pg, &v, &is_null, "IDENTIFY_SYSTEM", 1)) != 0)
		goto out;
	r.tli = (uint32_t)strtoul(v.ptr, NULL, 10);
	stkdr_buf xlogpos = STKDR_BUF_INIT;
	if ((rc = repl_value(r.pg, &xlogpos, &is_null, "IDENTIFY_SYSTEM", 2)) != 0) {
		stkdr_buf_dispose(&xlogpos);
		goto out;
	}
	if ((rc = repl_value(r.pg, &v, &is_null, "SHOW wal_segment_size", 0)) != 0)
		goto out;
	r.seg_size = strtoll(v.ptr, NULL, 10) * (strstr(v.ptr, "GB") ? 1024LL * 1024 * 1024 : 1024LL * 1024);
	if (r.seg_size <= 0 || (r.seg_size & (r.seg_size - 1))) {
		rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_POSTGRES, NULL, "unexpected wal_segment_size \"%s\"", v.ptr);
		goto out;
	}
	/* The slot: where the server keeps WAL for us. */
	char cmd[160];
	snprintf(cmd, sizeof cmd, "READ_REPLICATION_SLOT %s", slot);
	if ((rc = repl_value(r.pg, &v, &is_null, cmd, 1)) != 0)
		goto out;
	uint64_t restart = 0;
	if (is_null) {
		/* a new slot reserves WAL from the current position (its creation reports no LSN) */
		snprintf(cmd, sizeof cmd, "CREATE_REPLICATION_SLOT %s PHYSICAL RESERVE_WAL", slot);
		if ((rc = repl_value(r.pg, &v, &is_null, cmd, 0)) != 0) {
			stkdr_buf_dispose(&xlogpos);
			goto out;
		}
		stkdr__log(ctx, STKDR_LOG_INFO, "wal", "created replication slot %s", slot);
		snprintf(cmd, sizeof cmd, "READ_REPLICATION_SLOT %s", slot);
		if ((rc = repl_value(r.pg, &v, &is_null, cmd, 1)) != 0) {
			stkdr_buf_dispose(&xlogpos);
			goto out;
		}
	}
	rc = stkdr__lsn_parse(&restart, is_null ? xlogpos.ptr : v.ptr);
	stkdr_buf_dispose(&xlogpos);
	if (rc)
		goto out;
	r.seg = stkdr__calloc(1, (size_t)r.seg_size);
	if (!r.seg) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory for a WAL segment");
		goto out;
	}
	r.seg_start = restart - restart % (uint64_t)r.seg_size;
	/* Segments already archived complete (by archive_command or an earlier run) are not streamed again. */
	for (;;) {
		char name[32];
		stkdr_buf key = STKDR_BUF_INIT;
		segname(&r, name, sizeof name);
		int frc = stkdr__wal_find(&key, ctx, name);
		bool complete = frc == 0 && !strstr(key.ptr, ".partial");
		stkdr_buf_dispose(&key);
		stkdr_error_clear();
		if (!complete)
			break;
		r.seg_start += (uint64_t)r.seg_size;
	}
	r.received = r.archived = r.partial_at = r.seg_start;
	{
		char lsn[32];
		stkdr__lsn_format(lsn, sizeof lsn, r.seg_start);
		snprintf(cmd, sizeof cmd, "START_REPLICATION SLOT %s PHYSICAL %s TIMELINE %u", slot, lsn, r.tli);
		if ((rc = stkdr__pg_exec(r.pg, NULL, cmd, 0, NULL)) != 0)
			goto out;
		stkdr__log(ctx, STKDR_LOG_INFO, "wal", "streaming from %s on timeline %u (slot %s)", lsn, r.tli, slot);
		stkdr__journal(ctx, STKDR_EVENT_ACTION, "wal.receive.started", lsn, 1, NULL);
	}
	int64_t last_status = stkdr__time_mono_ms(), last_partial = last_status, last_event = 0;
	for (;;) {
		char *buf = NULL;
		int len = PQgetCopyData(r.conn, &buf, 1);
		if (len > 0) {
			if (buf[0] == 'w') {
				rc = on_xlogdata(&r, buf, len);
			} else if (buf[0] == 'k' && len >= 18) {
				if (buf[17])
					rc = send_status(&r, 0);
			}
			PQfreemem(buf);
			if (rc)
				break;
			continue;
		}
		if (len == -1) { /* the server ended streaming (shutdown, promotion of another timeline) */
			PGresult *res = PQgetResult(r.conn);
			rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_POSTGRES, NULL,
				"streaming from %s ended at %X/%X: %s; restart `stk wal receive` (a new timeline starts anew)",
				stkdr__pg_describe(r.pg), (unsigned)(r.received >> 32), (unsigned)r.received,
				res && PQresultStatus(res) == PGRES_FATAL_ERROR ? PQresultErrorMessage(res) : "the server stopped it");
			PQclear(res);
			break;
		}
		if (len == -2) {
			rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_POSTGRES, NULL, "streaming from %s failed: %s",
				stkdr__pg_describe(r.pg), PQerrorMessage(r.conn));
			break;
		}
		/* nothing buffered: wait for the socket, at most 250 ms */
		fd_set rf;
		FD_ZERO(&rf);
		int sock = PQsocket(r.conn);
		FD_SET(sock, &rf);
		struct timeval tv = { 0, 250000 };
		if (select(sock + 1, &rf, NULL, NULL, &tv) < 0 && errno != EINTR) {
			rc = stkdr__seterr_os(errno, "streaming receiver: waiting for the server");
			break;
		}
		if (!PQconsumeInput(r.conn)) {
			rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_POSTGRES, NULL, "streaming from %s failed: %s",
				stkdr__pg_describe(r.pg), PQerrorMessage(r.conn));
			break;
		}
		int64_t now = stkdr__time_mono_ms();
		if (now - last_partial >= partial_ms) {
			if ((rc = upload_partial(&r)) != 0)
				break;
			last_partial = now;
		}
		if (now - last_status >= status_ms) {
			if ((rc = send_status(&r, 0)) != 0)
				break;
			last_status = now;
		}
		if (now - last_event >= 1000) {
			last_event = now;
			char seg[32];
			segname(&r, seg, sizeof seg);
			int cr = stkdr__emit(ctx, STKDR_EVENT_PROGRESS, "wal.receive.progress", seg, r.bytes, -1, 0, NULL);
			if (cr) {
				/* asked to stop: keep what arrived, then end cleanly */
				stkdr_error saved = *stkdr__err_get();
				char msg[1024];
				snprintf(msg, sizeof msg, "%s", saved.message);
				rc = upload_partial(&r);
				if (!rc)
					rc = send_status(&r, 0);
				if (!rc)
					rc = stkdr__seterr(cr, STKDR_ERRCLASS_CALLBACK, NULL, "%s", msg);
				break;
			}
		}
	}
	if (rc < 0 && stkdr__err_get()->klass != STKDR_ERRCLASS_CALLBACK) {
		/* keep what arrived before the failure */
		stkdr_error saved = *stkdr__err_get();
		char msg[1024], code[64];
		snprintf(msg, sizeof msg, "%s", saved.message);
		snprintf(code, sizeof code, "%s", saved.backend_code);
		if (r.seg && upload_partial(&r) != 0)
			stkdr__log(ctx, STKDR_LOG_WARN, "wal", "could not upload the partial segment: %s", stkdr__err_get()->message);
		stkdr_error_set_str(saved.code, saved.klass, code, msg);
	}
out:
	stkdr_buf_dispose(&v);
	stkdr__pg_close(r.pg);
	stkdr__free(r.seg);
	return stkdr__ctx_result(ctx, rc);
}
