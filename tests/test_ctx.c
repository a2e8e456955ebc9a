/* The context: configuration loading, overrides, setters, check, redaction, logging, events, backends. */
#include "testutil.h"
#include "core/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *minimal_fmt =
	"{\n"
	"  \"deployment\": \"hub-prod\",\n"
	"  \"postgres\": {\n"
	"    \"conninfo\": \"host=127.0.0.1 port=5432 user=postgres dbname=hub\",\n"
	"    \"data_dir\": \"/var/lib/postgresql/15/main\",\n"
	"    \"bin_dir\": \"/usr/lib/postgresql/15/bin\"\n"
	"  },\n"
	"  \"objstore\":   { \"backend\": \"local\", \"path\": \"%s/repo\" },\n"
	"  \"secrets\":    { \"backend\": \"local\", \"path\": \"%s/secrets\" },\n"
	"  \"dbprovider\": { \"backend\": \"local-postgres\" },\n"
	"  \"dns\":        { \"backend\": \"local\", \"path\": \"%s/dns.json\" }\n"
	"}\n";

typedef struct collected {
	int n;
	char fields[32][64];
	char msgs[32][256];
} collected;

static int collect(const char *field, const char *msg, void *payload)
{
	collected *c = payload;
	if (c->n < 32) {
		snprintf(c->fields[c->n], sizeof c->fields[0], "%s", field);
		snprintf(c->msgs[c->n], sizeof c->msgs[0], "%s", msg);
	}
	c->n++;
	return 0;
}

static bool has_field(const collected *c, const char *field, const char *msg_part)
{
	for (int i = 0; i < c->n && i < 32; i++)
		if (!strcmp(c->fields[i], field) && (!msg_part || strstr(c->msgs[i], msg_part)))
			return true;
	return false;
}

static stkdr_ctx *ctx_minimal(char **dir_out)
{
	char *dir = tu_mkdtemp("ctx");
	char *json = stkdr__aprintf(minimal_fmt, dir, dir, dir);
	stkdr_ctx *ctx = tu_ctx_json(json);
	stkdr__free(json);
	*dir_out = dir;
	return ctx;
}

START_TEST(minimal_config_is_accepted)
{
	char *dir;
	stkdr_ctx *ctx = ctx_minimal(&dir);
	collected c = { 0 };
	int rc = stkdr_ctx_check(ctx, collect, &c);
	/* bin_dir may be missing on a machine without the server: only that may be reported */
	if (access("/usr/lib/postgresql/15/bin/pg_ctl", X_OK) == 0) {
		ck_assert_msg(rc == 0, "check failed: %d problems, first %s: %s", c.n, c.fields[0], c.msgs[0]);
		ck_assert_int_eq(stkdr_ctx_last_error(ctx)->code, 0);
	}
	stkdr_buf b = STKDR_BUF_INIT;
	tu_assert_ok(stkdr_ctx_get_str(&b, ctx, "deployment"));
	ck_assert_str_eq(b.ptr, "hub-prod");
	tu_assert_ok(stkdr_ctx_get_str(&b, ctx, "objstore.prefix"));
	ck_assert_str_eq(b.ptr, "hub-prod"); /* defaults to the deployment */
	tu_assert_ok(stkdr_ctx_get_str(&b, ctx, "snapshot.compression"));
	ck_assert_str_eq(b.ptr, "gzip");
	int64_t v;
	tu_assert_ok(stkdr_ctx_get_int64(&v, ctx, "retention.hourly"));
	ck_assert_int_eq(v, 7LL * 24 * 3600 * 1000);
	tu_assert_ok(stkdr_ctx_get_int64(&v, ctx, "snapshot.parallel"));
	ck_assert_int_eq(v, 2);
	stkdr_buf_dispose(&b);
	stkdr_ctx_free(ctx);
	tu_rmtree_free(dir);
}
END_TEST

START_TEST(malformed_json_names_line)
{
	stkdr_ctx_options o = STKDR_CTX_OPTIONS_INIT;
	stkdr_ctx *ctx = (stkdr_ctx *)1;
	o.config_json = "{\n  \"deployment\": \"x\",\n  \"objstore\": { \"path\" \"/x\" }\n}";
	o.flags = STKDR_CTX_NO_ENV;
	tu_assert_rc(stkdr_ctx_new(&ctx, &o), STKDR_EINVAL);
	ck_assert_ptr_null(ctx);
	tu_assert_errmsg("line 3");
	ck_assert_int_eq(stkdr_error_last()->klass, STKDR_ERRCLASS_CONFIG);
	o.config_json = "[1,2]";
	tu_assert_rc(stkdr_ctx_new(&ctx, &o), STKDR_EINVAL);
	tu_assert_errmsg("must be a JSON object");
	o.config_json = "{\"deployment\":\"x\"} trailing";
	tu_assert_rc(stkdr_ctx_new(&ctx, &o), STKDR_EINVAL);
}
END_TEST

START_TEST(file_errors_name_the_file)
{
	char *dir = tu_mkdtemp("ctxf");
	char *missing = tu_path(dir, "missing.json");
	stkdr_ctx_options o = STKDR_CTX_OPTIONS_INIT;
	stkdr_ctx *ctx = NULL;
	o.config_path = missing;
	o.flags = STKDR_CTX_NO_ENV;
	tu_assert_rc(stkdr_ctx_new(&ctx, &o), STKDR_ENOTFOUND);
	tu_assert_errmsg(missing);
	/* a directory instead of a file */
	o.config_path = dir;
	ck_assert_int_lt(stkdr_ctx_new(&ctx, &o), 0);
	tu_assert_errmsg(dir);
	/* wrong types are all listed, with the file */
	char *bad = tu_path(dir, "bad.json");
	const char *txt = "{\"deployment\": 5, \"snapshot\": {\"level\": \"high\", \"parallel\": 1.5}, \"dns\": 3}";
	tu_write_file(bad, txt, strlen(txt));
	o.config_path = bad;
	tu_assert_rc(stkdr_ctx_new(&ctx, &o), STKDR_EINVAL);
	tu_assert_errmsg(bad);
	tu_assert_errmsg("field deployment: expected a string, got a number");
	tu_assert_errmsg("field snapshot.level: expected an integer, got a string");
	tu_assert_errmsg("snapshot.parallel");
	tu_assert_errmsg("field dns: expected an object");
	/* a good file via STKDR_CONFIG */
	char *good = tu_path(dir, "good.json");
	tu_write_file(good, "{\"deployment\":\"d1\"}", 19);
	setenv("STKDR_CONFIG", good, 1);
	tu_assert_ok(stkdr_ctx_new(&ctx, NULL));
	stkdr_buf b = STKDR_BUF_INIT;
	tu_assert_ok(stkdr_ctx_get_str(&b, ctx, "deployment"));
	ck_assert_str_eq(b.ptr, "d1");
	stkdr_ctx_free(ctx);
	/* NO_DEFAULT_FILE ignores STKDR_CONFIG */
	o.config_path = NULL;
	o.flags = STKDR_CTX_NO_DEFAULT_FILE | STKDR_CTX_NO_ENV;
	tu_assert_ok(stkdr_ctx_new(&ctx, &o));
	tu_assert_rc(stkdr_ctx_get_str(&b, ctx, "deployment"), STKDR_ENOTFOUND);
	stkdr_ctx_free(ctx);
	unsetenv("STKDR_CONFIG");
	stkdr_buf_dispose(&b);
	stkdr__free(good);
	stkdr__free(bad);
	stkdr__free(missing);
	tu_rmtree_free(dir);
}
END_TEST

START_TEST(environment_overrides)
{
	setenv("STKDR_OBJSTORE_PATH", "/from/env", 1);
	setenv("STKDR_SNAPSHOT_LEVEL", "9", 1);
	setenv("STKDR_POSTGRES_DATA_DIR", "/pgdata", 1);
	stkdr_ctx_options o = STKDR_CTX_OPTIONS_INIT;
	stkdr_ctx *ctx;
	o.config_json = "{\"deployment\":\"d\",\"objstore\":{\"path\":\"/from/file\"}}";
	tu_assert_ok(stkdr_ctx_new(&ctx, &o));
	stkdr_buf b = STKDR_BUF_INIT;
	tu_assert_ok(stkdr_ctx_get_str(&b, ctx, "objstore.path"));
	ck_assert_str_eq(b.ptr, "/from/env");
	tu_assert_ok(stkdr_ctx_get_str(&b, ctx, "postgres.data_dir"));
	ck_assert_str_eq(b.ptr, "/pgdata");
	int64_t v;
	tu_assert_ok(stkdr_ctx_get_int64(&v, ctx, "snapshot.level"));
	ck_assert_int_eq(v, 9);
	stkdr_ctx_free(ctx);
	/* NO_ENV ignores them */
	o.flags = STKDR_CTX_NO_ENV;
	tu_assert_ok(stkdr_ctx_new(&ctx, &o));
	tu_assert_ok(stkdr_ctx_get_str(&b, ctx, "objstore.path"));
	ck_assert_str_eq(b.ptr, "/from/file");
	stkdr_ctx_free(ctx);
	/* a bad override names the variable */
	o.flags = 0;
	setenv("STKDR_SNAPSHOT_LEVEL", "lots", 1);
	tu_assert_rc(stkdr_ctx_new(&ctx, &o), STKDR_EINVAL);
	tu_assert_errmsg("STKDR_SNAPSHOT_LEVEL");
	setenv("STKDR_SNAPSHOT_LEVEL", "99", 1);
	tu_assert_rc(stkdr_ctx_new(&ctx, &o), STKDR_EINVAL);
	tu_assert_errmsg("out of range");
	unsetenv("STKDR_SNAPSHOT_LEVEL");
	unsetenv("STKDR_OBJSTORE_PATH");
	unsetenv("STKDR_POSTGRES_DATA_DIR");
	stkdr_buf_dispose(&b);
}
END_TEST

START_TEST(setters_and_getters)
{
	stkdr_ctx *ctx = tu_ctx_json("{}");
	stkdr_buf b = STKDR_BUF_INIT;
	int64_t v;
	tu_assert_ok(stkdr_ctx_set_str(ctx, "objstore.path", "/srv/repo"));
	tu_assert_ok(stkdr_ctx_get_str(&b, ctx, "objstore.path"));
	ck_assert_str_eq(b.ptr, "/srv/repo");
	tu_assert_ok(stkdr_ctx_set_str(ctx, "snapshot.parallel", "4"));
	tu_assert_ok(stkdr_ctx_get_int64(&v, ctx, "snapshot.parallel"));
	ck_assert_int_eq(v, 4);
	tu_assert_ok(stkdr_ctx_set_int64(ctx, "snapshot.parallel", 8));
	tu_assert_ok(stkdr_ctx_get_str(&b, ctx, "snapshot.parallel"));
	ck_assert_str_eq(b.ptr, "8");
	tu_assert_ok(stkdr_ctx_set_str(ctx, "retention.hourly", "36h"));
	tu_assert_ok(stkdr_ctx_get_int64(&v, ctx, "retention.hourly"));
	ck_assert_int_eq(v, 36LL * 3600 * 1000);
	tu_assert_ok(stkdr_ctx_set_int64(ctx, "retention.daily", 1500));
	tu_assert_ok(stkdr_ctx_get_int64(&v, ctx, "retention.daily"));
	ck_assert_int_eq(v, 1500);
	ck_assert_int_eq(stkdr_ctx_set_str(ctx, "snapshot.parallel", "many"), STKDR_EINVAL);
	ck_assert(strstr(stkdr_ctx_last_error(ctx)->message, "snapshot.parallel") != NULL);
	ck_assert_int_eq(stkdr_ctx_set_str(ctx, "snapshot.compression", "lz5"), STKDR_EINVAL);
	ck_assert(strstr(stkdr_ctx_last_error(ctx)->message, "none|gzip|zstd") != NULL);
	ck_assert_int_eq(stkdr_ctx_set_str(ctx, "no.such", "x"), STKDR_EINVAL);
	ck_assert(strstr(stkdr_ctx_last_error(ctx)->message, "no.such") != NULL);
	ck_assert_int_eq(stkdr_ctx_set_int64(ctx, "no.such", 1), STKDR_EINVAL);
	ck_assert_int_eq(stkdr_ctx_set_int64(ctx, "objstore.path", 1), STKDR_EINVAL);
	ck_assert_int_eq(stkdr_ctx_set_str(ctx, "objstore.path", ""), STKDR_EINVAL);
	ck_assert_int_eq(stkdr_ctx_set_str(ctx, "objstore.path", NULL), STKDR_EINVAL);
	ck_assert_int_eq(stkdr_ctx_get_str(&b, ctx, "no.such"), STKDR_EINVAL);
	ck_assert_int_eq(stkdr_ctx_get_int64(&v, ctx, "no.such"), STKDR_EINVAL);
	ck_assert_int_eq(stkdr_ctx_get_str(&b, ctx, "objstore.bucket"), STKDR_ENOTFOUND);
	ck_assert_int_eq(stkdr_ctx_get_int64(&v, ctx, "objstore.path"), STKDR_EINVAL);
	/* success clears the handle's error */
	tu_assert_ok(stkdr_ctx_get_str(&b, ctx, "objstore.path"));
	ck_assert_int_eq(stkdr_ctx_last_error(ctx)->code, 0);
	ck_assert_str_eq(stkdr_ctx_last_error(ctx)->message, "");
	/* NULL handles */
	ck_assert_int_eq(stkdr_ctx_set_str(NULL, "a", "b"), STKDR_EINVAL);
	ck_assert_int_eq(stkdr_ctx_set_int64(NULL, "a", 1), STKDR_EINVAL);
	ck_assert_int_eq(stkdr_ctx_get_str(NULL, ctx, "a"), STKDR_EINVAL);
	ck_assert_int_eq(stkdr_ctx_get_int64(NULL, ctx, "a"), STKDR_EINVAL);
	ck_assert_int_eq(stkdr_ctx_check(NULL, NULL, NULL), STKDR_EINVAL);
	ck_assert_int_eq(stkdr_ctx_config_json(NULL, ctx), STKDR_EINVAL);
	ck_assert_int_eq(stkdr_ctx_last_error(NULL)->code, STKDR_EINVAL);
	stkdr_ctx_free(NULL);
	stkdr_ctx_set_log_callback(NULL, 0, NULL, NULL);
	stkdr_ctx_set_event_callback(NULL, NULL, NULL);
	stkdr_buf_dispose(&b);
	stkdr_ctx_free(ctx);
}
END_TEST

START_TEST(check_reports_every_problem)
{
	stkdr_ctx *ctx = tu_ctx_json("{\"objstore\":{\"backend\":\"local\",\"pth\":\"/x\"},"
				     "\"secrets\":{\"backend\":\"vault9\"},"
				     "\"dbprovider\":{\"backend\":\"aws-rds\"},"
				     "\"dns\":{\"backend\":\"local\",\"path\":\"relative.json\"},"
				     "\"snapshot\":{\"compresion\":\"gzip\"},"
				     "\"bogus\":{}, \"deploymnt\":\"x\"}");
	collected c = { 0 };
	ck_assert_int_eq(stkdr_ctx_check(ctx, collect, &c), STKDR_EINVAL);
	ck_assert(has_field(&c, "deployment", "required"));
	ck_assert(has_field(&c, "deploymnt", "did you mean deployment"));
	ck_assert(has_field(&c, "objstore.pth", "did you mean objstore.path"));
	ck_assert(has_field(&c, "objstore.path", "required when objstore.backend=local"));
	ck_assert(has_field(&c, "secrets.backend", "not a known backend"));
	ck_assert(has_field(&c, "dbprovider.instance", "required when dbprovider.backend=aws-rds"));
	ck_assert(has_field(&c, "dns.path", "absolute path"));
	ck_assert(has_field(&c, "snapshot.compresion", "did you mean snapshot.compression"));
	ck_assert(has_field(&c, "bogus", "unknown"));
	ck_assert(strstr(stkdr_ctx_last_error(ctx)->message, "problems in the configuration") != NULL);
	/* without a callback: still counted */
	ck_assert_int_eq(stkdr_ctx_check(ctx, NULL, NULL), STKDR_EINVAL);
	stkdr_ctx_free(ctx);

	ctx = tu_ctx_json("{\"deployment\":\"bad name!\", \"objstore\":{\"path\":\"/proc/nope/repo\"},"
			  "\"postgres\":{\"bin_dir\":\"/nonexistent\"}}");
	memset(&c, 0, sizeof c);
	ck_assert_int_eq(stkdr_ctx_check(ctx, collect, &c), STKDR_EINVAL);
	ck_assert(has_field(&c, "deployment", "contains ' '"));
	ck_assert(has_field(&c, "postgres.bin_dir", "pg_ctl"));
	ck_assert(has_field(&c, "postgres.conninfo", "required"));
	stkdr_ctx_free(ctx);
}
END_TEST

static int stop_at_first(const char *field, const char *msg, void *payload)
{
	(void)field;
	(void)msg;
	(*(int *)payload)++;
	return STKDR_EUSER;
}

START_TEST(check_callback_can_stop)
{
	stkdr_ctx *ctx = tu_ctx_json("{\"a\":1,\"b\":2}");
	int calls = 0;
	ck_assert_int_eq(stkdr_ctx_check(ctx, stop_at_first, &calls), STKDR_EUSER);
	ck_assert_int_eq(calls, 1);
	ck_assert_int_eq(stkdr_ctx_last_error(ctx)->klass, STKDR_ERRCLASS_CALLBACK);
	stkdr_ctx_free(ctx);
}
END_TEST

START_TEST(dump_redacts_secrets)
{
	stkdr_ctx *ctx = tu_ctx_json("{\"deployment\":\"d\",\"postgres\":{\"conninfo\":"
				     "\"host=h user=u password=s3cr3t-value dbname=hub\"}}");
	stkdr_buf b = STKDR_BUF_INIT;
	tu_assert_ok(stkdr_ctx_config_json(&b, ctx));
	ck_assert(strstr(b.ptr, "s3cr3t-value") == NULL);
	ck_assert(strstr(b.ptr, "password=<redacted>") != NULL);
	ck_assert(strstr(b.ptr, "dbname=hub") != NULL);
	ck_assert(strstr(b.ptr, "\"compression\"") != NULL); /* defaults filled in */
	tu_assert_ok(stkdr_ctx_get_str(&b, ctx, "postgres.conninfo"));
	ck_assert(strstr(b.ptr, "s3cr3t-value") == NULL);
	ck_assert(strstr(b.ptr, "<redacted>") != NULL);
	/* quoted password and URI forms */
	tu_assert_ok(stkdr_ctx_set_str(ctx, "postgres.conninfo", "host=h password='a b\\'c' dbname=x"));
	tu_assert_ok(stkdr_ctx_config_json(&b, ctx));
	ck_assert(strstr(b.ptr, "a b") == NULL);
	ck_assert(strstr(b.ptr, "dbname=x") != NULL);
	tu_assert_ok(stkdr_ctx_set_str(ctx, "postgres.conninfo", "postgresql://hub:pw123@db.example/hub"));
	tu_assert_ok(stkdr_ctx_config_json(&b, ctx));
	ck_assert(strstr(b.ptr, "pw123") == NULL);
	ck_assert(strstr(b.ptr, "db.example/hub") != NULL);
	tu_assert_ok(stkdr_ctx_get_str(&b, ctx, "postgres.conninfo"));
	ck_assert(strstr(b.ptr, "pw123") == NULL);
	stkdr_buf_dispose(&b);
	stkdr_ctx_free(ctx);
}
END_TEST

START_TEST(options_versions)
{
	stkdr_ctx_options o;
	tu_assert_ok(stkdr_ctx_options_init(&o, STKDR_CTX_OPTIONS_VERSION));
	stkdr_ctx_options m = STKDR_CTX_OPTIONS_INIT;
	/* field by field: padding bytes of an initialised automatic struct are indeterminate */
	ck_assert_uint_eq(o.version, m.version);
	ck_assert_ptr_eq(o.config_path, m.config_path);
	ck_assert_ptr_eq(o.config_json, m.config_json);
	ck_assert_uint_eq(o.flags, m.flags);
	tu_assert_rc(stkdr_ctx_options_init(&o, 0), STKDR_EVERSION);
	tu_assert_rc(stkdr_ctx_options_init(&o, STKDR_CTX_OPTIONS_VERSION + 1), STKDR_EVERSION);
	tu_assert_rc(stkdr_ctx_options_init(NULL, 1), STKDR_EINVAL);
	stkdr_ctx *ctx;
	m.version = 77;
	tu_assert_rc(stkdr_ctx_new(&ctx, &m), STKDR_EVERSION);
	tu_assert_errmsg("version 77");
	tu_assert_rc(stkdr_ctx_new(NULL, NULL), STKDR_EINVAL);
}
END_TEST

typedef struct logrec {
	int n;
	int last_level;
	char last[256];
} logrec;

static void on_log(int level, const char *component, const char *msg, void *payload)
{
	logrec *l = payload;
	l->n++;
	l->last_level = level;
	snprintf(l->last, sizeof l->last, "%s: %s", component, msg);
}

typedef struct evrec {
	int n;
	char name[64];
	int64_t done;
} evrec;

static int on_event(const stkdr_event *ev, void *payload)
{
	evrec *e = payload;
	e->n++;
	ck_assert_int_ge(ev->version, 1);
	snprintf(e->name, sizeof e->name, "%s", ev->name);
	e->done = ev->done;
	return ev->done > 100 ? STKDR_ECANCELLED : 0;
}

START_TEST(logging_and_events)
{
	stkdr_ctx *ctx = tu_ctx_json("{\"clock\":{\"fake_now\":\"2026-02-10T14:25:00Z\"}}");
	logrec l = { 0 };
	stkdr__log(ctx, STKDR_LOG_ERROR, "t", "nobody listens");
	stkdr_ctx_set_log_callback(ctx, STKDR_LOG_INFO, on_log, &l);
	ck_assert(stkdr__log_enabled(ctx, STKDR_LOG_INFO));
	ck_assert(!stkdr__log_enabled(ctx, STKDR_LOG_DEBUG));
	stkdr__log(ctx, STKDR_LOG_DEBUG, "t", "too detailed");
	ck_assert_int_eq(l.n, 0);
	stkdr__log(ctx, STKDR_LOG_WARN, "objstore", "disk %d%% full\n", 91);
	ck_assert_int_eq(l.n, 1);
	ck_assert_int_eq(l.last_level, STKDR_LOG_WARN);
	ck_assert_str_eq(l.last, "objstore: disk 91% full");
	stkdr__log(ctx, STKDR_LOG_WARN, NULL, "x");
	ck_assert_str_eq(l.last, "stkdr: x");
	stkdr_ctx_set_log_callback(ctx, STKDR_LOG_TRACE, NULL, NULL);
	ck_assert(!stkdr__log_enabled(ctx, STKDR_LOG_ERROR));

	evrec e = { 0 };
	ck_assert_int_eq(stkdr__emit(ctx, STKDR_EVENT_ACTION, "x.y", "s", 0, 0, 1, NULL), 0);
	stkdr_ctx_set_event_callback(ctx, on_event, &e);
	ck_assert_int_eq(stkdr__emit(ctx, STKDR_EVENT_PROGRESS, "snapshot.progress", "s", 50, 200, 0, NULL), 0);
	ck_assert_int_eq(e.n, 1);
	ck_assert_str_eq(e.name, "snapshot.progress");
	ck_assert_int_eq(stkdr__emit(ctx, STKDR_EVENT_PROGRESS, "snapshot.progress", "s", 150, 200, 0, NULL),
		STKDR_ECANCELLED);
	/* non-progress events ignore the return value */
	ck_assert_int_eq(stkdr__emit(ctx, STKDR_EVENT_ACTION, "x", "s", 150, 0, 1, "{\"a\":1}"), 0);
	ck_assert_int_eq(stkdr__ctx_now_ms(ctx), 1770733500000LL);
	stkdr_ctx_free(ctx);
}
END_TEST

/* A user-supplied DNS backend, registered by name. */
typedef struct mydns {
	stkdr_dns base;
	int *freed;
	int upserts;
} mydns;

static int my_upsert(stkdr_buf *change_id_out, stkdr_dns *d, const stkdr_dns_record *rec)
{
	((mydns *)d)->upserts++;
	(void)rec;
	return change_id_out ? stkdr_buf_set(change_id_out, "c1", 2) : 0;
}

static void my_free_be(stkdr_backend *be)
{
	(*((mydns *)be)->freed)++;
	stkdr_backend_data_free(be);
}

START_TEST(user_backends)
{
	stkdr_ctx *ctx = tu_ctx_json("{\"deployment\":\"d\",\"dns\":{\"backend\":\"mydns\"}}");
	int freed = 0;
	mydns *d = stkdr_backend_data_alloc(sizeof *d);
	tu_assert_ok(stkdr_backend_init(&d->base.base, STKDR_BACKEND_DNS, STKDR_DNS_VERSION, "mydns"));
	d->base.base.free = my_free_be;
	d->base.upsert = my_upsert;
	d->freed = &freed;
	tu_assert_ok(stkdr_ctx_add_backend(ctx, &d->base.base, 10));
	collected c = { 0 };
	stkdr_ctx_check(ctx, collect, &c);
	ck_assert(!has_field(&c, "dns.backend", NULL));
	stkdr_dns *got;
	tu_assert_ok(stkdr__ctx_dns(&got, ctx));
	ck_assert_ptr_eq(got, &d->base);
	stkdr_buf id = STKDR_BUF_INIT;
	stkdr_dns_record r = { STKDR_DNS_RECORD_VERSION, "hub.example", "CNAME", "x", 60 };
	tu_assert_ok(got->upsert(&id, got, &r));
	ck_assert_str_eq(id.ptr, "c1");
	stkdr_buf_dispose(&id);

	/* bad registrations free the backend and say why */
	mydns *bad = stkdr_backend_data_alloc(sizeof *bad);
	stkdr_backend_init(&bad->base.base, STKDR_BACKEND_DNS, 99, "bad");
	bad->base.base.free = my_free_be;
	bad->freed = &freed;
	ck_assert_int_eq(stkdr_ctx_add_backend(ctx, &bad->base.base, 0), STKDR_EVERSION);
	ck_assert_int_eq(freed, 1);
	bad = stkdr_backend_data_alloc(sizeof *bad);
	stkdr_backend_init(&bad->base.base, STKDR_BACKEND_DNS, 1, NULL);
	bad->base.base.free = my_free_be;
	bad->freed = &freed;
	ck_assert_int_eq(stkdr_ctx_add_backend(ctx, &bad->base.base, 0), STKDR_EINVAL);
	ck_assert_int_eq(freed, 2);
	bad = stkdr_backend_data_alloc(sizeof *bad);
	stkdr_backend_init(&bad->base.base, STKDR_BACKEND_DNS, 1, "x");
	bad->base.base.kind = 42;
	bad->base.base.free = my_free_be;
	bad->freed = &freed;
	ck_assert_int_eq(stkdr_ctx_add_backend(ctx, &bad->base.base, 0), STKDR_EINVAL);
	ck_assert_int_eq(freed, 3);
	ck_assert_int_eq(stkdr_ctx_add_backend(ctx, NULL, 0), STKDR_EINVAL);
	ck_assert_int_eq(stkdr_ctx_add_backend(NULL, NULL, 0), STKDR_EINVAL);
	ck_assert_int_eq(stkdr_backend_init(NULL, 1, 1, "x"), STKDR_EINVAL);
	ck_assert_int_eq(stkdr_backend_init(&d->base.base, 9, 1, "x") , STKDR_EINVAL);
	stkdr_ctx_free(ctx);
	ck_assert_int_eq(freed, 4);
}
END_TEST

START_TEST(builtin_backends_open_lazily)
{
	char *dir;
	stkdr_ctx *ctx = ctx_minimal(&dir);
	stkdr_objstore *os;
	tu_assert_ok(stkdr__ctx_objstore(&os, ctx));
	ck_assert_str_eq(os->base.name, "local");
	stkdr_objstore *os2;
	tu_assert_ok(stkdr__ctx_objstore(&os2, ctx));
	ck_assert_ptr_eq(os, os2);
	stkdr_dns *dns;
	tu_assert_ok(stkdr__ctx_dns(&dns, ctx));
	/* secrets need the master key */
	unsetenv("STKDR_MASTER_KEY");
	stkdr_secrets *sec;
	tu_assert_rc(stkdr__ctx_secrets(&sec, ctx), STKDR_EAUTH);
	tu_assert_errmsg("STKDR_MASTER_KEY");
	setenv("STKDR_MASTER_KEY", "short", 1);
	tu_assert_rc(stkdr__ctx_secrets(&sec, ctx), STKDR_EAUTH);
	tu_assert_errmsg("32 random bytes");
	setenv("STKDR_MASTER_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", 1);
	tu_assert_ok(stkdr__ctx_secrets(&sec, ctx));
	unsetenv("STKDR_MASTER_KEY");
	/* not-yet-built backends and missing paths are clear errors */
	stkdr_dbprovider *p;
	tu_assert_rc(stkdr__ctx_dbprovider(&p, ctx), STKDR_EINVAL);
	tu_assert_errmsg("local-postgres");
	stkdr_ctx_free(ctx);
	ctx = tu_ctx_json("{\"deployment\":\"x\",\"objstore\":{\"backend\":\"s3\"},\"keys\":{\"master_key_secret\":\"mk\"}}");
	tu_assert_rc(stkdr__ctx_objstore(&os, ctx), STKDR_EINVAL);
	/* with S3 built in, the missing bucket is named; without, the unavailable backend */
	tu_assert_errmsg(stkdr_has_feature("s3") ? "objstore.bucket" : "objstore.backend");
	uint8_t mk[32];
	tu_assert_rc(stkdr__ctx_master_key(mk, ctx), STKDR_EAUTH);
	tu_assert_errmsg("keys.master_key_secret");
	stkdr_ctx_free(ctx);
	ctx = tu_ctx_json("{\"deployment\":\"x\"}");
	tu_assert_rc(stkdr__ctx_objstore(&os, ctx), STKDR_EINVAL);
	tu_assert_errmsg("STKDR_OBJSTORE_PATH");
	tu_assert_rc(stkdr__ctx_secrets(&sec, ctx), STKDR_EINVAL);
	tu_assert_rc(stkdr__ctx_dns(&dns, ctx), STKDR_EINVAL);
	stkdr_ctx_free(ctx);
	tu_rmtree_free(dir);
}
END_TEST

START_TEST(schema_introspection)
{
	size_t n = 0;
	const stkdr__cfg_key *keys = stkdr__cfg_schema(&n);
	ck_assert_uint_gt(n, 20);
	size_t i = 0;
	for (const stkdr_config_key *k; (k = stkdr_config_key_at(i)) != NULL; i++) {
		ck_assert_str_eq(k->key, keys[i].key);
		ck_assert_ptr_nonnull(k->env);
		ck_assert(strncmp(k->env, "STKDR_", 6) == 0);
		ck_assert_ptr_nonnull(k->description);
		ck_assert_ptr_nonnull(k->type);
	}
	ck_assert_uint_eq(i, n);
	const stkdr_config_key *pd = NULL;
	for (i = 0; stkdr_config_key_at(i); i++)
		if (!strcmp(stkdr_config_key_at(i)->key, "postgres.data_dir"))
			pd = stkdr_config_key_at(i);
	ck_assert_ptr_nonnull(pd);
	ck_assert_str_eq(pd->env, "STKDR_POSTGRES_DATA_DIR");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ctx");
	TCase *tc = tcase_create("ctx");
	tcase_add_test(tc, minimal_config_is_accepted);
	tcase_add_test(tc, malformed_json_names_line);
	tcase_add_test(tc, file_errors_name_the_file);
	tcase_add_test(tc, environment_overrides);
	tcase_add_test(tc, setters_and_getters);
	tcase_add_test(tc, check_reports_every_problem);
	tcase_add_test(tc, check_callback_can_stop);
	tcase_add_test(tc, dump_redacts_secrets);
	tcase_add_test(tc, options_versions);
	tcase_add_test(tc, logging_and_events);
	tcase_add_test(tc, user_backends);
	tcase_add_test(tc, builtin_backends_open_lazily);
	tcase_add_test(tc, schema_introspection);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
