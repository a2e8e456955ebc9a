/*
 * The Route 53 DNS backend ("route53"): the dns vtable over the Route 53 REST/XML API (2013-04-01), signed
 * with SigV4 (service "route53", region us-east-1: Route 53 is global).
 *
 * - upsert: ChangeResourceRecordSets with one UPSERT change; the change id ("/change/C...") is returned for
 *   wait_sync. TXT values are sent quoted (Route 53's syntax) unless already quoted.
 * - get: ListResourceRecordSets from (name, type), all pages until the name changes; TXT quotes are removed.
 * - wait_sync: GetChange until INSYNC, polling with a growing delay (100 ms doubling to 2 s), or ETIMEOUT.
 * XML with libxml2.
 */
#include "backends/aws/aws.h"
#include "core/crypto.h"
#include "core/timeutil.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define R53_NS "https://route53.amazonaws.com/doc/2013-04-01/"

typedef struct r53_dns {
	stkdr_dns pub;
	stkdr_ctx *ctx;
	char *zone;   /* "Z123" */
	stkdr__aws_service svc;
} r53_dns;

static int oom(void)
{
	return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
}


/* Route 53 errors: <ErrorResponse><Error><Code>..</Code><Message>..</Message></Error></ErrorResponse>. */
static void r53_error(char *code, size_t cap, char *msg, size_t mcap, const stkdr__http_resp *resp)
{
	code[0] = '\0';
	if (msg)
		msg[0] = '\0';
	xmlDocPtr d = stkdr__aws_xml_parse(&resp->body, "route53.xml");
	xmlNodePtr root = d ? xmlDocGetRootElement(d) : NULL;
	xmlNodePtr e = root && !strcmp((const char *)root->name, "Error") ? root : stkdr__aws_xml_child(root, "Error");
	if (e) {
		stkdr__aws_xml_text(code, cap, e, "Code");
		if (msg)
			stkdr__aws_xml_text(msg, mcap, e, "Message");
	}
	if (d)
		xmlFreeDoc(d);
}

static void r53_error_code(char *code, size_t cap, const stkdr__http_resp *resp, void *payload)
{
	r53_error(code, cap, NULL, 0, resp);
}

/* One call; on 200 the parsed document into *out (xmlFreeDoc it) with its root named `root_name`. */
static int r53_call(xmlDocPtr *out, r53_dns *d, const char *op, const char *method, const char *path,
	const stkdr__aws_kv *q, size_t nq, const xmlChar *body, size_t blen, const char *root_name, const char *subject)
{
	*out = NULL;
	stkdr_buf query = STKDR_BUF_INIT;
	char *url = NULL;
	int rc = stkdr__aws_canonical_query(&query, q, nq);
	if (rc == 0 && !(url = stkdr__aprintf("%s://%s%s%s%s", d->svc.scheme, d->svc.host, path, query.size ? "?" : "",
			 query.size ? query.ptr : "")))
		rc = oom();
	char what[400];
	snprintf(what, sizeof what, "Route 53 %s %s", op, subject);
	uint8_t dg[32];
	char hash[65];
	stkdr__sha256(body ? (const void *)body : (const void *)"", blen, dg);
	stkdr__hex_encode(hash, dg, 32);
	struct curl_slist *hl = body ? curl_slist_append(NULL, "Content-Type: text/xml") : NULL;
	stkdr__http_resp resp;
	memset(&resp, 0, sizeof resp);
	if (rc == 0) {
		stkdr__aws_signer sg = { &d->svc.creds, "us-east-1", "route53", d->svc.host, path, query.ptr, hash, 0, NULL };
		stkdr__http_req req;
		memset(&req, 0, sizeof req);
		req.method = method;
		req.url = url;
		req.what = what;
		req.headers = hl;
		req.sign = stkdr__aws_sign_cb;
		req.sign_payload = &sg;
		req.body = body;
		req.body_len = (int64_t)blen;
		req.error_code = r53_error_code;
		req.ctx = d->ctx;
		rc = stkdr__http_do(d->svc.http, &req, &resp);
	}
	if (rc == 0 && resp.status != 200) {
		char code[128], msg[512];
		r53_error(code, sizeof code, msg, sizeof msg, &resp);
		if (!code[0])
			snprintf(code, sizeof code, "HTTP%ld", resp.status);
		const char *sep = msg[0] ? ": " : "";
		if (!strcmp(code, "NoSuchHostedZone") || !strcmp(code, "NoSuchChange"))
			rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_AWS, code, "%s: %s%s%s (check dns.zone_id)", what, code,
				sep, msg);
		else if (resp.status == 403 || !strcmp(code, "InvalidClientTokenId") || !strcmp(code, "SignatureDoesNotMatch")
			|| !strcmp(code, "AccessDenied"))
			rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, code,
				"%s: %s (HTTP %ld)%s%s; check the credentials (%s) and their permissions", what, code, resp.status,
				sep, msg, d->svc.creds.source);
		else
			rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_AWS, code, "%s: %s (HTTP %ld)%s%s", what, code,
				resp.status, sep, msg);
	} else if (rc == 0) {
		xmlDocPtr doc = stkdr__aws_xml_parse(&resp.body, "route53.xml");
		xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
		if (!root || strcmp((const char *)root->name, root_name) != 0) {
			if (doc)
				xmlFreeDoc(doc);
			rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_AWS, "MalformedResponse",
				"%s: the response is not a %s document (truncated or not XML); check dns.endpoint and retry", what,
				root_name);
		} else {
			*out = doc;
		}
	}
	stkdr__http_resp_dispose(&resp);
	curl_slist_free_all(hl);
	stkdr_buf_dispose(&query);
	stkdr__free(url);
	return rc;
}

static char *fqdn(const char *name)
{
	size_t n = strlen(name);
	return n && name[n - 1] == '.' ? stkdr__strdup(name) : stkdr__aprintf("%s.", name);
}

static int r53_upsert(stkdr_buf *change_id_out, stkdr_dns *d_, const stkdr_dns_record *rec)
{
	r53_dns *d = (r53_dns *)d_;
	if (!rec || !rec->name || !*rec->name || !rec->type || !*rec->type || !rec->value || rec->ttl < 0)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_AWS, NULL,
			"DNS upsert: name, type, value and a TTL >= 0 are needed");
	char *name = fqdn(rec->name);
	char *value = !strcasecmp(rec->type, "TXT") && rec->value[0] != '"' ? stkdr__aprintf("\"%s\"", rec->value)
									 : stkdr__strdup(rec->value);
	char ttl[32];
	snprintf(ttl, sizeof ttl, "%lld", (long long)rec->ttl);
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr root = doc ? xmlNewNode(NULL, BAD_CAST "ChangeResourceRecordSetsRequest") : NULL;
	int rc = 0;
	if (!name || !value || !root) {
		rc = oom();
		goto out;
	}
	xmlDocSetRootElement(doc, root);
	xmlNewProp(root, BAD_CAST "xmlns", BAD_CAST R53_NS);
	xmlNodePtr ch = xmlNewChild(xmlNewChild(xmlNewChild(root, NULL, BAD_CAST "ChangeBatch", NULL), NULL,
		BAD_CAST "Changes", NULL), NULL, BAD_CAST "Change", NULL);
	xmlNewTextChild(ch, NULL, BAD_CAST "Action", BAD_CAST "UPSERT");
	xmlNodePtr rs = xmlNewChild(ch, NULL, BAD_CAST "ResourceRecordSet", NULL);
	xmlNewTextChild(rs, NULL, BAD_CAST "Name", BAD_CAST name);
	xmlNewTextChild(rs, NULL, BAD_CAST "Type", BAD_CAST rec->type);
	xmlNewTextChild(rs, NULL, BAD_CAST "TTL", BAD_CAST ttl);
	xmlNodePtr rr = xmlNewChild(xmlNewChild(rs, NULL, BAD_CAST "ResourceRecords", NULL), NULL,
		BAD_CAST "ResourceRecord", NULL);
	xmlNewTextChild(rr, NULL, BAD_CAST "Value", BAD_CAST value);
	xmlChar *xml = NULL;
	int xlen = 0;
	xmlDocDumpMemory(doc, &xml, &xlen);
	if (!xml) {
		rc = oom();
		goto out;
	}
	char *path = stkdr__aprintf("/2013-04-01/hostedzone/%s/rrset/", d->zone);
	xmlDocPtr resp = NULL;
	rc = path ? r53_call(&resp, d, "ChangeResourceRecordSets", "POST", path, NULL, 0, xml, (size_t)xlen,
			    "ChangeResourceRecordSetsResponse", name)
		  : oom();
	xmlFree(xml);
	stkdr__free(path);
	if (rc == 0) {
		char id[256];
		xmlNodePtr info = stkdr__aws_xml_child(xmlDocGetRootElement(resp), "ChangeInfo");
		if (!stkdr__aws_xml_text(id, sizeof id, info, "Id") || !id[0])
			rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_AWS, "MalformedResponse",
				"Route 53 ChangeResourceRecordSets %s: no ChangeInfo/Id in the response", name);
		else if (change_id_out)
			rc = stkdr_buf_set(change_id_out, id, strlen(id));
	}
	if (resp)
		xmlFreeDoc(resp);
out:
	if (doc)
		xmlFreeDoc(doc);
	stkdr__free(name);
	stkdr__free(value);
	return rc;
}

static int r53_get(stkdr_dns *d_, const char *name_in, const char *type, stkdr_dns_record_cb cb, void *payload)
{
	r53_dns *d = (r53_dns *)d_;
	if (!name_in || !*name_in)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_AWS, NULL, "DNS get: a name is needed");
	char *name = fqdn(name_in);
	char *path = stkdr__aprintf("/2013-04-01/hostedzone/%s/rrset", d->zone);
	char next_name[512] = "", next_type[32] = "";
	int rc = name && path ? 0 : oom();
	int found = 0;
	snprintf(next_name, sizeof next_name, "%s", name ? name : "");
	if (type)
		snprintf(next_type, sizeof next_type, "%s", type);
	while (rc == 0) {
		stkdr__aws_kv q[3];
		size_t nq = 0;
		q[nq++] = (stkdr__aws_kv){ "name", next_name };
		if (next_type[0])
			q[nq++] = (stkdr__aws_kv){ "type", next_type };
		q[nq++] = (stkdr__aws_kv){ "maxitems", "100" };
		xmlDocPtr doc = NULL;
		rc = r53_call(&doc, d, "ListResourceRecordSets", "GET", path, q, nq, NULL, 0, "ListResourceRecordSetsResponse",
			name);
		if (rc)
			break;
		xmlNodePtr root = xmlDocGetRootElement(doc);
		int past = 0;
		xmlNodePtr first = stkdr__aws_xml_child(stkdr__aws_xml_child(root, "ResourceRecordSets"), "ResourceRecordSet");
		for (xmlNodePtr rs = first; rs && rc == 0 && !past; rs = rs->next) {
			if (rs->type != XML_ELEMENT_NODE)
				continue;
			char rn[512], rt[32], ttl[32];
			stkdr__aws_xml_text(rn, sizeof rn, rs, "Name");
			stkdr__aws_xml_text(rt, sizeof rt, rs, "Type");
			stkdr__aws_xml_text(ttl, sizeof ttl, rs, "TTL");
			if (strcasecmp(rn, name) != 0) {
				past = 1;
				break;
			}
			if (type && strcasecmp(rt, type) != 0) {
				if (strcasecmp(rt, type) > 0)
					past = 1;
				continue;
			}
			size_t nl = strlen(rn);
			if (nl && rn[nl - 1] == '.')
				rn[nl - 1] = '\0';
			for (xmlNodePtr rr = stkdr__aws_xml_child(stkdr__aws_xml_child(rs, "ResourceRecords"), "ResourceRecord"); rr && rc == 0;
				rr = rr->next) {
				if (rr->type != XML_ELEMENT_NODE)
					continue;
				char v[4096];
				stkdr__aws_xml_text(v, sizeof v, rr, "Value");
				size_t vl = strlen(v);
				const char *val = v;
				if (!strcasecmp(rt, "TXT") && vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
					v[vl - 1] = '\0';
					val = v + 1;
				}
				stkdr_dns_record out = { STKDR_DNS_RECORD_VERSION, rn, rt, val, strtoll(ttl, NULL, 10) };
				found = 1;
				rc = cb(&out, payload);
			}
		}
		char trunc[16] = "";
		stkdr__aws_xml_text(trunc, sizeof trunc, root, "IsTruncated");
		int more = !past && !strcmp(trunc, "true");
		if (more) {
			stkdr__aws_xml_text(next_name, sizeof next_name, root, "NextRecordName");
			stkdr__aws_xml_text(next_type, sizeof next_type, root, "NextRecordType");
			if (strcasecmp(next_name, name) != 0)
				more = 0;
		}
		xmlFreeDoc(doc);
		if (!more)
			break;
	}
	if (rc == 0 && !found)
		rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_AWS, NULL, "Route 53: no %s record for %s in zone %s",
			type ? type : "", name_in, d->zone);
	stkdr__free(name);
	stkdr__free(path);
	return rc;
}

/* One GetChange wait (r53_wait_sync), for its poll callbacks. */
typedef struct r53_waiting {
	r53_dns *d;
	const char *change_id;
	const char *path;
	int64_t timeout_ms;
	char st[32];
} r53_waiting;

static int r53_wait_check(int *done, int64_t start_ms, int polls, void *payload)
{
	r53_waiting *w = payload;
	xmlDocPtr doc = NULL;
	(void)start_ms;
	(void)polls;
	int rc = r53_call(&doc, w->d, "GetChange", "GET", w->path, NULL, 0, NULL, 0, "GetChangeResponse", w->change_id);
	if (rc)
		return rc;
	stkdr__aws_xml_text(w->st, sizeof w->st, stkdr__aws_xml_child(xmlDocGetRootElement(doc), "ChangeInfo"), "Status");
	xmlFreeDoc(doc);
	*done = !strcmp(w->st, "INSYNC");
	return 0;
}

static int r53_wait_timed_out(int64_t elapsed_ms, int polls, void *payload)
{
	r53_waiting *w = payload;
	(void)elapsed_ms;
	(void)polls;
	return stkdr__seterr(STKDR_ETIMEOUT, STKDR_ERRCLASS_AWS, NULL,
		"Route 53 change %s is still %s after %lld ms; it usually takes under a minute: wait longer or check "
		"the Route 53 console", w->change_id, w->st[0] ? w->st : "unknown", (long long)w->timeout_ms);
}

static int r53_wait_sync(stkdr_dns *d_, const char *change_id, int64_t timeout_ms)
{
	r53_dns *d = (r53_dns *)d_;
	if (!change_id || !*change_id)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_AWS, NULL, "DNS wait_sync: a change id is needed");
	const char *id = strrchr(change_id, '/') ? strrchr(change_id, '/') + 1 : change_id;
	char *path = stkdr__aprintf("/2013-04-01/change/%s", id);
	if (!path)
		return oom();
	r53_waiting w = { d, change_id, path, timeout_ms, "" };
	stkdr__aws_poller pl = { timeout_ms, 100, 2000, r53_wait_check, r53_wait_timed_out, &w };
	int rc = stkdr__aws_poll(&pl);
	stkdr__free(path);
	return rc;
}

static int r53_ctl(stkdr_backend *be, int op, void *arg)
{
	if (op == STKDR_CTL_ATTACH) {
		((r53_dns *)be)->ctx = arg;
		return 0;
	}
	return STKDR_ENOTSUPPORTED;
}

static void r53_free(stkdr_backend *be)
{
	r53_dns *d = (r53_dns *)be;
	if (!d)
		return;
	stkdr__aws_service_close(&d->svc);
	stkdr__free(d->zone);
	stkdr__free(d);
}

int stkdr__route53_dns_new(stkdr_dns **out, stkdr_ctx *ctx)
{
	*out = NULL;
	stkdr__aws_xml_init();
	const char *zone;
	int rc = stkdr__cfg_require_str(&zone, ctx, "dns.zone_id");
	if (rc)
		return rc;
	r53_dns *d = stkdr__calloc(1, sizeof *d);
	if (!d)
		return oom();
	stkdr_backend_init(&d->pub.base, STKDR_BACKEND_DNS, STKDR_DNS_VERSION, "route53");
	d->pub.base.ctl = r53_ctl;
	d->pub.base.free = r53_free;
	d->pub.upsert = r53_upsert;
	d->pub.get = r53_get;
	d->pub.wait_sync = r53_wait_sync;
	d->ctx = ctx;
	d->zone = stkdr__strdup(strrchr(zone, '/') ? strrchr(zone, '/') + 1 : zone);
	rc = d->zone ? stkdr__aws_service_open(&d->svc, ctx, "dns.endpoint", "route53.amazonaws.com", 0) : oom();
	if (rc) {
		r53_free(&d->pub.base);
		return rc;
	}
	*out = &d->pub;
	return 0;
}
