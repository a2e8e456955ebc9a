/* Fault-injecting wrappers around an object store or a secrets backend (see fault.h). */
#include "backends/fault.h"

#include <string.h>

typedef struct fault_state {
	stkdr__fault_options o;
	char *method;
	int64_t calls;
	uint64_t rng;
} fault_state;

static const char *const os_methods[] = {
	"open_write", "write", "commit", "open_read", "read", "head", "list", "del", "set_tier", "set_lifecycle",
};
static const char *const sec_methods[] = { "put", "get", "list_versions" };

/* splitmix64: deterministic for a seed, independent of libc's rand(). */
static uint32_t next_rand(fault_state *f)
{
	uint64_t z = (f->rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* Counts a call of `method` and decides whether it fails: 0, or the code with the error set. */
static int fault_hit(fault_state *f, const char *method)
{
	if (f->method && strcmp(f->method, method) != 0)
		return 0;
	int64_t n = ++f->calls;
	int fail = 0;
	if (f->o.fail_nth > 0) {
		if (n == f->o.fail_nth)
			fail = 1;
		else if (f->o.fail_every > 0 && n > f->o.fail_nth && (n - f->o.fail_nth) % f->o.fail_every == 0)
			fail = 1;
	}
	if (f->o.fail_percent > 0 && (int)(next_rand(f) % 100) < f->o.fail_percent)
		fail = 1;
	if (!fail)
		return 0;
	return stkdr__seterr(f->o.fail_code, STKDR_ERRCLASS_LOCAL, "INJECTED", "injected fault: %s call #%lld", method,
		(long long)n);
}

static int fault_init(fault_state *f, const stkdr__fault_options *opts, const char *const *methods, size_t n_methods)
{
	memset(f, 0, sizeof *f);
	if (opts)
		f->o = *opts;
	f->o.method = NULL;
	if (f->o.fail_code == 0)
		f->o.fail_code = STKDR_EIO;
	if (f->o.fail_nth < 0 || f->o.fail_every < 0 || f->o.fail_percent < 0 || f->o.fail_percent > 100 ||
		f->o.cut_write_after < 0 || f->o.fail_code > 0)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"fault options out of range (fail_nth %d, fail_every %d, fail_percent %d, fail_code %d, "
			"cut_write_after %lld)", f->o.fail_nth, f->o.fail_every, f->o.fail_percent, f->o.fail_code,
			(long long)f->o.cut_write_after);
	f->rng = f->o.seed;
	if (opts && opts->method) {
		size_t i;
		for (i = 0; i < n_methods && strcmp(methods[i], opts->method) != 0; i++)
			;
		if (i == n_methods)
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
				"fault options: method '%s' is not one of this backend's methods", opts->method);
		f->method = stkdr__strdup(opts->method);
		if (!f->method)
			return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* Object store                                                                                       */
/* ------------------------------------------------------------------------------------------------ */

typedef struct fault_os {
	stkdr_objstore pub;
	stkdr_objstore *inner;
	fault_state f;
} fault_os;

typedef struct fault_writer {
	stkdr_objwriter pub;
	fault_os *os;
	stkdr_objwriter *inner;
	int64_t written;
	int cut;
} fault_writer;

typedef struct fault_reader {
	stkdr_objreader pub;
	fault_os *os;
	stkdr_objreader *inner;
} fault_reader;

static int fw_write(stkdr_objwriter *w_, const uint8_t *data, size_t len)
{
	fault_writer *w = (fault_writer *)w_;
	fault_state *f = &w->os->f;
	int rc = fault_hit(f, "write");
	if (rc)
		return rc;
	if (w->cut)
		return stkdr__seterr(f->o.fail_code, STKDR_ERRCLASS_LOCAL, "INJECTED",
			"injected fault: the write was cut after %lld bytes", (long long)f->o.cut_write_after);
	int64_t cut = f->o.cut_write_after;
	if (cut > 0 && (uint64_t)w->written + len > (uint64_t)cut) {
		size_t part = (size_t)(cut - w->written);
		rc = part ? w->inner->write(w->inner, data, part) : 0;
		if (rc)
			return rc;
		w->written = cut;
		w->cut = 1;
		return stkdr__seterr(f->o.fail_code, STKDR_ERRCLASS_LOCAL, "INJECTED",
			"injected fault: write cut after %lld bytes (a simulated crash mid-write)", (long long)cut);
	}
	rc = w->inner->write(w->inner, data, len);
	if (rc == 0)
		w->written += (int64_t)len;
	return rc;
}

static int fw_commit(stkdr_objwriter *w_, uint8_t *sha256_out)
{
	fault_writer *w = (fault_writer *)w_;
	fault_state *f = &w->os->f;
	int rc = fault_hit(f, "commit");
	if (rc == 0 && w->cut)
		rc = stkdr__seterr(f->o.fail_code, STKDR_ERRCLASS_LOCAL, "INJECTED",
			"injected fault: commit after the write was cut at %lld bytes; nothing was stored",
			(long long)f->o.cut_write_after);
	if (rc)
		w->inner->abort(w->inner);
	else
		rc = w->inner->commit(w->inner, sha256_out);
	stkdr__free(w);
	return rc;
}

static void fw_abort(stkdr_objwriter *w_)
{
	fault_writer *w = (fault_writer *)w_;
	w->inner->abort(w->inner);
	stkdr__free(w);
}

static int fos_open_write(stkdr_objwriter **out, stkdr_objstore *os_, const char *key, const stkdr_put_options *opts)
{
	fault_os *os = (fault_os *)os_;
	if (!out)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "open_write: out is NULL");
	*out = NULL;
	int rc = fault_hit(&os->f, "open_write");
	if (rc)
		return rc;
	fault_writer *w = stkdr__calloc(1, sizeof *w);
	if (!w)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	rc = os->inner->open_write(&w->inner, os->inner, key, opts);
	if (rc) {
		stkdr__free(w);
		return rc;
	}
	w->os = os;
	w->pub.version = 1;
	w->pub.write = fw_write;
	w->pub.commit = fw_commit;
	w->pub.abort = fw_abort;
	*out = &w->pub;
	return 0;
}

static int fr_read(stkdr_objreader *r_, uint8_t *buf, size_t cap, size_t *nread_out)
{
	fault_reader *r = (fault_reader *)r_;
	if (nread_out)
		*nread_out = 0;
	int rc = fault_hit(&r->os->f, "read");
	return rc ? rc : r->inner->read(r->inner, buf, cap, nread_out);
}

static void fr_close(stkdr_objreader *r_)
{
	fault_reader *r = (fault_reader *)r_;
	if (!r)
		return;
	r->inner->close(r->inner);
	stkdr__free(r);
}

static int fos_open_read(stkdr_objreader **out, stkdr_objstore *os_, const char *key, int64_t offset, int64_t length)
{
	fault_os *os = (fault_os *)os_;
	if (!out)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "open_read: out is NULL");
	*out = NULL;
	int rc = fault_hit(&os->f, "open_read");
	if (rc)
		return rc;
	fault_reader *r = stkdr__calloc(1, sizeof *r);
	if (!r)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	rc = os->inner->open_read(&r->inner, os->inner, key, offset, length);
	if (rc) {
		stkdr__free(r);
		return rc;
	}
	r->os = os;
	r->pub.version = 1;
	r->pub.read = fr_read;
	r->pub.close = fr_close;
	*out = &r->pub;
	return 0;
}

static int fos_head(stkdr_objinfo *out, stkdr_objstore *os_, const char *key)
{
	fault_os *os = (fault_os *)os_;
	int rc = fault_hit(&os->f, "head");
	return rc ? rc : os->inner->head(out, os->inner, key);
}

static int fos_list(stkdr_objstore *os_, const char *prefix, const char *start_after, stkdr_objinfo_cb cb,
	void *payload)
{
	fault_os *os = (fault_os *)os_;
	int rc = fault_hit(&os->f, "list");
	return rc ? rc : os->inner->list(os->inner, prefix, start_after, cb, payload);
}

static int fos_del(stkdr_objstore *os_, const char *key, uint32_t flags)
{
	fault_os *os = (fault_os *)os_;
	int rc = fault_hit(&os->f, "del");
	return rc ? rc : os->inner->del(os->inner, key, flags);
}

static int fos_set_tier(stkdr_objstore *os_, const char *key, int tier)
{
	fault_os *os = (fault_os *)os_;
	int rc = fault_hit(&os->f, "set_tier");
	return rc ? rc : os->inner->set_tier(os->inner, key, tier);
}

static int fos_set_lifecycle(stkdr_objstore *os_, const stkdr_lifecycle_rule *rules, size_t n_rules)
{
	fault_os *os = (fault_os *)os_;
	int rc = fault_hit(&os->f, "set_lifecycle");
	return rc ? rc : os->inner->set_lifecycle(os->inner, rules, n_rules);
}

/* ctl goes to the inner backend (e.g. the local store's cleanup). */
static int forward_ctl(stkdr_backend *inner, int op, void *arg)
{
	if (inner->ctl)
		return inner->ctl(inner, op, arg);
	return stkdr__seterr(STKDR_ENOTSUPPORTED, STKDR_ERRCLASS_INTERNAL, NULL, "backend %s has no ctl op %d",
		inner->name ? inner->name : "?", op);
}

static int fos_ctl(stkdr_backend *be, int op, void *arg)
{
	return forward_ctl(&((fault_os *)be)->inner->base, op, arg);
}

static void fos_free(stkdr_backend *be)
{
	fault_os *os = (fault_os *)be;
	if (!os)
		return;
	if (os->inner)
		os->inner->base.free(&os->inner->base);
	stkdr__free(os->f.method);
	stkdr__free(os);
}

int stkdr__fault_objstore_new(stkdr_objstore **out, stkdr_objstore *inner, const stkdr__fault_options *opts)
{
	if (out)
		*out = NULL;
	if (!out || !inner) {
		if (inner)
			inner->base.free(&inner->base);
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "fault objstore: out or inner is NULL");
	}
	fault_os *os = stkdr__calloc(1, sizeof *os);
	if (!os) {
		inner->base.free(&inner->base);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	}
	os->inner = inner;
	int rc = fault_init(&os->f, opts, os_methods, STKDR__ARRAY_SIZE(os_methods));
	if (rc) {
		fos_free(&os->pub.base);
		return rc;
	}
	stkdr_backend_init(&os->pub.base, STKDR_BACKEND_OBJSTORE, inner->base.version, inner->base.name);
	os->pub.base.ctl = fos_ctl;
	os->pub.base.free = fos_free;
	os->pub.open_write = inner->open_write ? fos_open_write : NULL;
	os->pub.open_read = inner->open_read ? fos_open_read : NULL;
	os->pub.head = inner->head ? fos_head : NULL;
	os->pub.list = inner->list ? fos_list : NULL;
	os->pub.del = inner->del ? fos_del : NULL;
	os->pub.set_tier = inner->set_tier ? fos_set_tier : NULL;
	os->pub.set_lifecycle = inner->set_lifecycle ? fos_set_lifecycle : NULL;
	*out = &os->pub;
	return 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* Secrets                                                                                            */
/* ------------------------------------------------------------------------------------------------ */

typedef struct fault_sec {
	stkdr_secrets pub;
	stkdr_secrets *inner;
	fault_state f;
} fault_sec;

static int fsec_put(stkdr_buf *version_id_out, stkdr_secrets *s_, const char *name, const uint8_t *value, size_t len,
	const char *client_token)
{
	fault_sec *s = (fault_sec *)s_;
	int rc = fault_hit(&s->f, "put");
	return rc ? rc : s->inner->put(version_id_out, s->inner, name, value, len, client_token);
}

static int fsec_get(stkdr_buf *value_out, stkdr_buf *version_id_out, stkdr_secrets *s_, const char *name,
	const char *version_id, uint32_t stage)
{
	fault_sec *s = (fault_sec *)s_;
	int rc = fault_hit(&s->f, "get");
	return rc ? rc : s->inner->get(value_out, version_id_out, s->inner, name, version_id, stage);
}

static int fsec_list_versions(stkdr_secrets *s_, const char *name, stkdr_secret_version_cb cb, void *payload)
{
	fault_sec *s = (fault_sec *)s_;
	int rc = fault_hit(&s->f, "list_versions");
	return rc ? rc : s->inner->list_versions(s->inner, name, cb, payload);
}

static int fsec_ctl(stkdr_backend *be, int op, void *arg)
{
	return forward_ctl(&((fault_sec *)be)->inner->base, op, arg);
}

static void fsec_free(stkdr_backend *be)
{
	fault_sec *s = (fault_sec *)be;
	if (!s)
		return;
	if (s->inner)
		s->inner->base.free(&s->inner->base);
	stkdr__free(s->f.method);
	stkdr__free(s);
}

int stkdr__fault_secrets_new(stkdr_secrets **out, stkdr_secrets *inner, const stkdr__fault_options *opts)
{
	if (out)
		*out = NULL;
	if (!out || !inner) {
		if (inner)
			inner->base.free(&inner->base);
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "fault secrets: out or inner is NULL");
	}
	fault_sec *s = stkdr__calloc(1, sizeof *s);
	if (!s) {
		inner->base.free(&inner->base);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	}
	s->inner = inner;
	int rc = fault_init(&s->f, opts, sec_methods, STKDR__ARRAY_SIZE(sec_methods));
	if (rc) {
		fsec_free(&s->pub.base);
		return rc;
	}
	stkdr_backend_init(&s->pub.base, STKDR_BACKEND_SECRETS, inner->base.version, inner->base.name);
	s->pub.base.ctl = fsec_ctl;
	s->pub.base.free = fsec_free;
	s->pub.put = inner->put ? fsec_put : NULL;
	s->pub.get = inner->get ? fsec_get : NULL;
	s->pub.list_versions = inner->list_versions ? fsec_list_versions : NULL;
	*out = &s->pub;
	return 0;
}

int64_t stkdr__fault_calls(stkdr_backend *be)
{
	if (!be)
		return -1;
	if (be->free == fos_free)
		return ((fault_os *)be)->f.calls;
	if (be->free == fsec_free)
		return ((fault_sec *)be)->f.calls;
	return -1;
}
