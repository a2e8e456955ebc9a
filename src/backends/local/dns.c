/*
 * The local DNS backend: record sets in a JSON file, for self-hosted deployments and tests.
 *
 *   {"format":1,
 *    "records":[{"name":"hub.santokit.com","type":"A","value":"10.0.0.1","ttl":60,
 *                "changed_at":"2026-02-10T14:25:00.123Z","change_id":"C0123456789ABCDEF"}],
 *    "changes":["C0123456789ABCDEF", ...]}
 *
 * One record per (name, type). Names are stored lower-case without the trailing dot and compared
 * case-insensitively; types are A, AAAA, CNAME, TXT. "changes" keeps the ids of the last 256 changes so
 * that wait_sync() knows a change id even after its record was replaced again. A missing file holds no
 * records.
 *
 * An upsert takes an flock() on "<path>.lock" for its read-modify-write, and replaces the file
 * atomically (temporary file, fsync, rename, fsync of the directory); readers need no lock.
 */
#include "backends/local/local.h"
#include "core/timeutil.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define DNS_FORMAT 1
#define MAX_FILE (64 * 1024 * 1024)
#define MAX_NAME 253
#define MAX_VALUE 4096
#define MAX_CHANGES 256
#define FILE_MODE 0644

typedef struct local_dns {
	stkdr_dns pub;
	char *path;
	char *lock_path;
} local_dns;

static const char *const types[] = { "A", "AAAA", "CNAME", "TXT" };

/* Lower-cases `in` without its trailing dot into out (MAX_NAME + 2 bytes); NULL if fine, else why not. */
static const char *name_normalise(char *out, const char *in)
{
	if (!in)
		return "it is NULL";
	size_t len = strlen(in);
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0)
		return "it is empty";
	if (len > MAX_NAME)
		return "it is longer than 253 characters";
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '.') {
			if (label == 0)
				return "it has an empty label";
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '*') {
			label++;
		} else if (c >= 'A' && c <= 'Z') {
			c = (char)(c - 'A' + 'a');
			label++;
		} else {
			return "it has a character other than letters, digits, '-', '_', '*' and '.'";
		}
		if (label > 63)
			return "a label is longer than 63 characters";
		out[i] = c;
	}
	if (label == 0)
		return "it has an empty label";
	out[len] = '\0';
	return NULL;
}

static int bad_name(const char *name, const char *why)
{
	return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "DNS name '%s' is invalid: %s",
		name ? name : "(null)", why);
}

/* The canonical spelling of a type, or NULL. */
static const char *type_canonical(const char *t)
{
	for (size_t i = 0; t && i < STKDR__ARRAY_SIZE(types); i++)
		if (strcasecmp(t, types[i]) == 0)
			return types[i];
	return NULL;
}

static int bad_type(const char *t)
{
	return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
		"DNS record type '%s' is not supported: use A, AAAA, CNAME or TXT", t ? t : "(null)");
}

/* Stored names may have been written by hand: compare without case and trailing dot. */
static int name_eq(const char *stored, const char *norm)
{
	size_t n = strlen(norm);
	size_t sl = strlen(stored);
	if (sl > 0 && stored[sl - 1] == '.')
		sl--;
	return sl == n && strncasecmp(stored, norm, n) == 0;
}

static int corrupt(const local_dns *d, const char *why)
{
	return stkdr__seterr(STKDR_ECORRUPT, STKDR_ERRCLASS_FORMAT, NULL,
		"DNS records file %s is malformed (%s); fix it or remove it", d->path, why);
}

static const char *json_str(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int json_ttl(int64_t *out, const cJSON *rec)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, "ttl");
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1 && v->valuedouble <= 2147483647.0) ||
		v->valuedouble != (double)(int64_t)v->valuedouble)
		return -1;
	*out = (int64_t)v->valuedouble;
	return 0;
}

/* Loads the file; a missing file is an empty document. */
static int doc_load(cJSON **out, const local_dns *d)
{
	*out = NULL;
	stkdr_buf b = STKDR_BUF_INIT;
	int rc = stkdr__local_read_file(&b, d->path, MAX_FILE);
	cJSON *doc = NULL;
	if (rc == STKDR_ENOTFOUND) {
		doc = cJSON_CreateObject();
		if (!doc || !cJSON_AddNumberToObject(doc, "format", DNS_FORMAT) || !cJSON_AddArrayToObject(doc, "records")) {
			cJSON_Delete(doc);
			return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
		}
		*out = doc;
		return 0;
	}
	if (rc) {
		stkdr__err_prefix("reading the DNS records");
		return rc;
	}
	const char *why = NULL;
	if (b.size != strlen(b.ptr))
		why = "it contains a NUL byte";
	else if (!cJSON_IsObject(doc = cJSON_ParseWithOpts(b.ptr, NULL, 1)))
		why = "it is not a JSON object";
	stkdr_buf_dispose(&b);
	const cJSON *fmt = why ? NULL : cJSON_GetObjectItemCaseSensitive(doc, "format");
	const cJSON *recs = why ? NULL : cJSON_GetObjectItemCaseSensitive(doc, "records");
	const cJSON *changes = why ? NULL : cJSON_GetObjectItemCaseSensitive(doc, "changes");
	if (why)
		;
	else if (!cJSON_IsNumber(fmt) || !(fmt->valuedouble >= 1 && fmt->valuedouble <= 1e6) ||
		fmt->valuedouble != (double)(int)fmt->valuedouble)
		why = "\"format\" is missing or not a positive integer";
	else if (fmt->valuedouble > DNS_FORMAT) {
		int version = (int)fmt->valuedouble;
		cJSON_Delete(doc);
		return stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_FORMAT, NULL,
			"DNS records file %s has format %d, newer than this libstkdr understands (%d); upgrade libstkdr",
			d->path, version, DNS_FORMAT);
	} else if (!cJSON_IsArray(recs))
		why = "\"records\" is missing or not an array";
	else if (changes && !cJSON_IsArray(changes))
		why = "\"changes\" is not an array";
	const cJSON *rlist = why ? NULL : recs;
	const cJSON *clist = why ? NULL : changes;
	const cJSON *r;
	cJSON_ArrayForEach(r, rlist) {
		int64_t ttl;
		const cJSON *cid = cJSON_GetObjectItemCaseSensitive(r, "change_id");
		if (!cJSON_IsObject(r) || !json_str(r, "name") || !json_str(r, "type") || !json_str(r, "value")) {
			why = "a record lacks a string name, type or value";
			break;
		}
		if (json_ttl(&ttl, r) != 0) {
			why = "a record's ttl is missing or not 1..2147483647";
			break;
		}
		if (cid && !cJSON_IsString(cid)) {
			why = "a record's change_id is not a string";
			break;
		}
	}
	if (why)
		clist = NULL;
	cJSON_ArrayForEach(r, clist) {
		if (!cJSON_IsString(r)) {
			why = "\"changes\" holds a non-string";
			break;
		}
	}
	if (why) {
		cJSON_Delete(doc);
		return corrupt(d, why);
	}
	*out = doc;
	return 0;
}

static int lock_file(int *fd_out, const local_dns *d)
{
	char *dir = stkdr__local_dirname(d->path);
	if (!dir)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	int rc = stkdr__local_mkdirs(dir, 0755);
	stkdr__free(dir);
	if (rc)
		return rc;
	int fd = open(d->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		char what[1200];
		snprintf(what, sizeof what, "opening the DNS lock file %s", d->lock_path);
		return stkdr__local_oserr(errno, d->lock_path, what);
	}
	while (flock(fd, LOCK_EX) != 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		char what[1200];
		snprintf(what, sizeof what, "locking %s", d->lock_path);
		return stkdr__local_oserr(e, d->lock_path, what);
	}
	*fd_out = fd;
	return 0;
}

static int value_check(const char *type, const char *value, char *cname_out)
{
	if (!value || !*value)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "DNS %s record: the value is empty", type);
	if (strlen(value) > MAX_VALUE)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"DNS %s record: the value is longer than %d bytes", type, MAX_VALUE);
	uint8_t addr[16];
	if (strcmp(type, "A") == 0 && inet_pton(AF_INET, value, addr) != 1)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"DNS A record: '%s' is not an IPv4 address", value);
	if (strcmp(type, "AAAA") == 0 && inet_pton(AF_INET6, value, addr) != 1)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"DNS AAAA record: '%s' is not an IPv6 address", value);
	if (strcmp(type, "CNAME") == 0) {
		const char *why = name_normalise(cname_out, value);
		if (why)
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
				"DNS CNAME record: target '%s' is not a host name: %s", value, why);
	}
	return 0;
}

static int ld_upsert(stkdr_buf *change_id_out, stkdr_dns *d_, const stkdr_dns_record *rec)
{
	local_dns *d = (local_dns *)d_;
	char name[MAX_NAME + 2];
	char cname[MAX_NAME + 2];
	if (!rec)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "DNS upsert: the record is NULL");
	if (rec->version == 0 || rec->version > STKDR_DNS_RECORD_VERSION)
		return stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_LOCAL, NULL,
			"DNS upsert: stkdr_dns_record version %u is not supported (1..%d)", rec->version, STKDR_DNS_RECORD_VERSION);
	const char *why = name_normalise(name, rec->name);
	if (why)
		return bad_name(rec->name, why);
	const char *type = type_canonical(rec->type);
	if (!type)
		return bad_type(rec->type);
	if (rec->ttl < 1 || rec->ttl > 2147483647)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL,
			"DNS record %s %s: TTL %lld is out of range (1..2147483647 seconds)", name, type, (long long)rec->ttl);
	int rc = value_check(type, rec->value, cname);
	if (rc)
		return rc;
	const char *value = strcmp(type, "CNAME") == 0 ? cname : rec->value;

	char change_id[18];
	char hex[17];
	rc = stkdr__local_random_hex(hex, 8);
	if (rc)
		return rc;
	change_id[0] = 'C';
	for (size_t i = 0; i < 16; i++)
		change_id[i + 1] = (char)(hex[i] >= 'a' ? hex[i] - 'a' + 'A' : hex[i]);
	change_id[17] = '\0';
	char when[40];
	stkdr__time_format_rfc3339(when, sizeof when, stkdr__time_now_ms());

	int lockfd = -1;
	cJSON *doc = NULL;
	char *json = NULL;
	rc = lock_file(&lockfd, d);
	if (rc == 0)
		rc = doc_load(&doc, d);
	if (rc)
		goto out;
	cJSON *recs = cJSON_GetObjectItemCaseSensitive(doc, "records");
	cJSON *r;
	cJSON *found = NULL;
	cJSON_ArrayForEach(r, recs) {
		if (name_eq(json_str(r, "name"), name) && strcasecmp(json_str(r, "type"), type) == 0) {
			found = r;
			break;
		}
	}
	cJSON *nr = cJSON_CreateObject();
	int ok = nr && cJSON_AddStringToObject(nr, "name", name) && cJSON_AddStringToObject(nr, "type", type) &&
		cJSON_AddStringToObject(nr, "value", value) && cJSON_AddNumberToObject(nr, "ttl", (double)rec->ttl) &&
		cJSON_AddStringToObject(nr, "changed_at", when) && cJSON_AddStringToObject(nr, "change_id", change_id);
	if (ok)
		ok = found ? cJSON_ReplaceItemViaPointer(recs, found, nr) : cJSON_AddItemToArray(recs, nr);
	if (!ok)
		cJSON_Delete(nr);
	cJSON *changes = cJSON_GetObjectItemCaseSensitive(doc, "changes");
	if (ok && !changes)
		ok = (changes = cJSON_AddArrayToObject(doc, "changes")) != NULL;
	cJSON *cs = ok ? cJSON_CreateString(change_id) : NULL;
	ok = cs && cJSON_AddItemToArray(changes, cs);
	if (!ok && cs)
		cJSON_Delete(cs);
	while (ok && cJSON_GetArraySize(changes) > MAX_CHANGES)
		cJSON_DeleteItemFromArray(changes, 0);
	json = ok ? cJSON_Print(doc) : NULL;
	if (!json) {
		rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory updating DNS records");
		goto out;
	}
	rc = stkdr__local_write_file_atomic(d->path, json, strlen(json), FILE_MODE, 0);
	if (rc) {
		stkdr__err_prefix("DNS record %s %s", name, type);
		goto out;
	}
	if (change_id_out)
		rc = stkdr_buf_set(change_id_out, change_id, strlen(change_id));
out:
	if (json)
		cJSON_free(json);
	cJSON_Delete(doc);
	if (lockfd >= 0)
		close(lockfd);
	return rc;
}

static int ld_get(stkdr_dns *d_, const char *name_in, const char *type_in, stkdr_dns_record_cb cb, void *payload)
{
	local_dns *d = (local_dns *)d_;
	char name[MAX_NAME + 2];
	if (!cb)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "DNS get: the callback is NULL");
	const char *why = name_normalise(name, name_in);
	if (why)
		return bad_name(name_in, why);
	const char *type = NULL;
	if (type_in && !(type = type_canonical(type_in)))
		return bad_type(type_in);
	cJSON *doc = NULL;
	int rc = doc_load(&doc, d);
	if (rc)
		return rc;
	int found = 0;
	const cJSON *r;
	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "records")) {
		const char *rt = json_str(r, "type");
		if (!name_eq(json_str(r, "name"), name) || (type && strcasecmp(rt, type) != 0))
			continue;
		stkdr_dns_record out;
		memset(&out, 0, sizeof out);
		out.version = STKDR_DNS_RECORD_VERSION;
		out.name = json_str(r, "name");
		out.type = rt;
		out.value = json_str(r, "value");
		json_ttl(&out.ttl, r);
		found = 1;
		int cr = cb(&out, payload);
		if (cr < 0) {
			if (stkdr__err_get()->code != cr)
				stkdr__seterr(cr, STKDR_ERRCLASS_CALLBACK, NULL,
					"reading DNS records of %s stopped by the callback (%d)", name, cr);
			rc = cr;
			break;
		}
	}
	cJSON_Delete(doc);
	if (rc == 0 && !found)
		rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_LOCAL, NULL, "no DNS record %s%s%s in %s", name,
			type ? " of type " : "", type ? type : "", d->path);
	return rc;
}

static int ld_wait_sync(stkdr_dns *d_, const char *change_id, int64_t timeout_ms)
{
	local_dns *d = (local_dns *)d_;
	if (!change_id || !*change_id)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_LOCAL, NULL, "DNS wait_sync: the change id is empty");
	cJSON *doc = NULL;
	int rc = doc_load(&doc, d);
	if (rc)
		return rc;
	int known = 0;
	const cJSON *r;
	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "records")) {
		const char *c = json_str(r, "change_id");
		if (c && strcmp(c, change_id) == 0)
			known = 1;
	}
	cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(doc, "changes")) {
		if (strcmp(r->valuestring, change_id) == 0)
			known = 1;
	}
	cJSON_Delete(doc);
	if (!known)
		return stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_LOCAL, NULL,
			"DNS change %s is not known to %s (it was not made through this file, or is older than its last %d "
			"changes)", change_id, d->path, MAX_CHANGES);
	return 0;
}

static int ld_ctl(stkdr_backend *be, int op, void *arg)
{
	if (op == STKDR_CTL_ATTACH)
		return 0;
	return stkdr__seterr(STKDR_ENOTSUPPORTED, STKDR_ERRCLASS_LOCAL, NULL, "the local DNS backend has no ctl op %d", op);
}

static void ld_free(stkdr_backend *be)
{
	local_dns *d = (local_dns *)be;
	if (!d)
		return;
	stkdr__free(d->path);
	stkdr__free(d->lock_path);
	stkdr__free(d);
}

int stkdr__local_dns_new(stkdr_dns **out, const char *path)
{
	if (!out)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL, "local dns: out is NULL");
	*out = NULL;
	if (!path || !*path)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"local DNS: the records file path is empty; set dns.path");
	local_dns *d = stkdr__calloc(1, sizeof *d);
	if (!d || !(d->path = stkdr__strdup(path)) || !(d->lock_path = stkdr__aprintf("%s.lock", path))) {
		ld_free(d ? &d->pub.base : NULL);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	}
	stkdr_backend_init(&d->pub.base, STKDR_BACKEND_DNS, STKDR_DNS_VERSION, "local");
	d->pub.base.ctl = ld_ctl;
	d->pub.base.free = ld_free;
	d->pub.upsert = ld_upsert;
	d->pub.get = ld_get;
	d->pub.wait_sync = ld_wait_sync;
	*out = &d->pub;
	return 0;
}
