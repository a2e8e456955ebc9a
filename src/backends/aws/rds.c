/*
 * The RDS database provider ("aws-rds"): the dbprovider vtable over the RDS Query API (Version 2014-10-31):
 * form-encoded POSTs to https://rds.REGION.amazonaws.com/ signed with SigV4 (service "rds"), XML answers
 * parsed with libxml2 (xml.c). Retries, backoff and throttling (Throttling, RequestLimitExceeded...) are the
 * HTTP layer's (services/http.c).
 *
 * - describe: DescribeDBInstances (status, Endpoint, LatestRestorableTime, ReadReplicaSource...).
 * - snapshot_create/list/delete: CreateDBSnapshot, DescribeDBSnapshots (all pages, manual and automated,
 *   sorted oldest first), DeleteDBSnapshot. snapshot_create_tagged (vtable version 3) stores the kind, keep
 *   flag and label as the tags stkdr:kind, stkdr:keep, stkdr:label (`Tags.Tag.N.Key/Value`), read back from
 *   each snapshot's TagList.
 * - restore_snapshot / restore_time: RestoreDBInstanceFromDBSnapshot, RestoreDBInstanceToPointInTime
 *   (RestoreTime or UseLatestRestorableTime). The new instance gets the class, subnet group, VPC security
 *   groups, parameter group and Multi-AZ setting of the instance it replaces (the PITR source, or for a
 *   snapshot the instance it was taken of, if it still exists): RDS would otherwise put it in the default
 *   VPC security group, where the Hub cannot reach it.
 * - replica_create / replica_promote: CreateDBInstanceReadReplica, PromoteReadReplica.
 * - reboot: RebootDBInstance (ForceFailover). rename: ModifyDBInstance NewDBInstanceIdentifier with
 *   ApplyImmediately. delete_instance: DeleteDBInstance (SkipFinalSnapshot or FinalDBSnapshotIdentifier).
 * - wait: polls DescribeDBInstances / DescribeDBSnapshots, 0.5 s doubling to dbprovider.poll_interval_ms,
 *   until the status, a terminal failure, or the deadline.
 */
#include "backends/aws/aws.h"
#include "core/crypto.h"
#include "core/timeutil.h"

#include <cjson/cJSON.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define RDS_VERSION "2014-10-31"
#define MAX_PARAMS 40
/* How long wait() keeps polling an instance that does not exist (yet) before it says so. */
#define NOT_YET_GRACE_MS 60000

typedef struct rds_db {
	stkdr_dbprovider pub;
	stkdr_ctx *ctx;
	char *instance; /* dbprovider.instance, may be NULL */
	char region[64];
	int64_t poll_max_ms;
	stkdr__aws_service svc;
	/* what describe() hands back (valid until the next call) */
	char d_id[128], d_status[64], d_host[256], d_src[128], d_engine[32];
} rds_db;

/* Request parameters: raw (not encoded) names and values; strings are borrowed or kept in `own`. */
typedef struct rparams {
	stkdr__aws_kv kv[MAX_PARAMS];
	size_t n;
	char own[24][256];
	size_t nown;
} rparams;

static int oom(void)
{
	return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
}

static void add(rparams *p, const char *k, const char *v)
{
	if (p->n < MAX_PARAMS && v)
		p->kv[p->n++] = (stkdr__aws_kv){ k, v };
}

static void addf(rparams *p, const char *k, const char *fmt, ...) STKDR__PRINTF(3, 4);
static void addf(rparams *p, const char *k, const char *fmt, ...)
{
	if (p->nown >= sizeof p->own / sizeof p->own[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->own[p->nown], sizeof p->own[0], fmt, ap);
	va_end(ap);
	add(p, k, p->own[p->nown++]);
}

/* RDS errors: <ErrorResponse><Error><Type/><Code/><Message/></Error></ErrorResponse>. */
static void rds_error(char *code, size_t cap, char *msg, size_t mcap, const stkdr__http_resp *resp)
{
	code[0] = '\0';
	if (msg)
		msg[0] = '\0';
	xmlDocPtr d = stkdr__aws_xml_parse(&resp->body, "rds.xml");
	xmlNodePtr root = d ? xmlDocGetRootElement(d) : NULL;
	xmlNodePtr e = root && !strcmp((const char *)root->name, "Error") ? root : stkdr__aws_xml_child(root, "Error");
	if (!e) /* <ErrorResponse><Errors><Error> (moto's authentication errors) */
		e = stkdr__aws_xml_child(stkdr__aws_xml_child(root, "Errors"), "Error");
	if (e) {
		stkdr__aws_xml_text(code, cap, e, "Code");
		if (msg)
			stkdr__aws_xml_text(msg, mcap, e, "Message");
	}
	if (d)
		xmlFreeDoc(d);
}

static void rds_error_code(char *code, size_t cap, const stkdr__http_resp *resp, void *payload)
{
	(void)payload;
	rds_error(code, cap, NULL, 0, resp);
}

static int is_code(const char *code, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(code, *list))
			return 1;
	return 0;
}

/*
 * One Query API call `op` about `subject`; on 200 the parsed document into *out (xmlFreeDoc it) and its
 * `<op>Result` element into *result (may be NULL when the answer has none).
 */
static int rds_call(xmlDocPtr *out, xmlNodePtr *result, rds_db *d, const char *op, const rparams *p, const char *subject)
{
	*out = NULL;
	if (result)
		*result = NULL;
	char *url = stkdr__aprintf("%s://%s/", d->svc.scheme, d->svc.host);
	int rc = url ? 0 : oom();
	char what[400];
	snprintf(what, sizeof what, "RDS %s %s", op, subject ? subject : "");
	stkdr__http_resp resp;
	memset(&resp, 0, sizeof resp);
	if (rc == 0) {
		stkdr__aws_query_req q = { d->svc.http, d->ctx, &d->svc.creds, url, d->svc.host, d->region, "rds",
			RDS_VERSION, op, p->kv, p->n, what, rds_error_code };
		rc = stkdr__aws_query(&resp, &q);
	}
	if (rc == 0 && resp.status != 200) {
		static const char *const notfound[] = { "DBInstanceNotFound", "DBInstanceNotFoundFault", "DBSnapshotNotFound",
			"DBSnapshotNotFoundFault", "PointInTimeRestoreNotEnabled", NULL };
		static const char *const exists[] = { "DBInstanceAlreadyExists", "DBInstanceAlreadyExistsFault",
			"DBSnapshotAlreadyExists", "DBSnapshotAlreadyExistsFault", NULL };
		static const char *const auth[] = { "InvalidClientTokenId", "SignatureDoesNotMatch", "AccessDenied",
			"AccessDeniedException", "UnrecognizedClientException", "IncompleteSignature", "AuthFailure",
			"MissingAuthenticationToken", "ExpiredToken", NULL };
		char code[128], msg[512];
		rds_error(code, sizeof code, msg, sizeof msg, &resp);
		if (!code[0])
			snprintf(code, sizeof code, "HTTP%ld", resp.status);
		const char *sep = msg[0] ? ": " : "";
		if (is_code(code, notfound))
			rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_AWS, code, "%s: %s%s%s (check dbprovider.instance "
				"and dbprovider.region %s)", what, code, sep, msg, d->region);
		else if (is_code(code, exists))
			rc = stkdr__seterr(STKDR_EEXISTS, STKDR_ERRCLASS_AWS, code, "%s: %s%s%s; choose another name", what,
				code, sep, msg);
		else if (resp.status == 403 || is_code(code, auth))
			rc = stkdr__seterr(STKDR_EAUTH, STKDR_ERRCLASS_AWS, code,
				"%s: %s (HTTP %ld)%s%s; check the credentials (%s) and their rds:%s permission", what, code,
				resp.status, sep, msg, d->svc.creds.source, op);
		else if (!strncmp(code, "InvalidDB", 9))
			rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_AWS, code,
				"%s: %s%s%s; wait until it is available (see its status in the RDS console) and retry", what, code,
				sep, msg);
		else
			rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_AWS, code, "%s: %s (HTTP %ld)%s%s", what, code,
				resp.status, sep, msg);
	} else if (rc == 0) {
		char root_name[128];
		snprintf(root_name, sizeof root_name, "%sResponse", op);
		xmlDocPtr doc = stkdr__aws_xml_parse(&resp.body, "rds.xml");
		xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
		if (!root || strcmp((const char *)root->name, root_name) != 0) {
			if (doc)
				xmlFreeDoc(doc);
			rc = stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_AWS, "MalformedResponse",
				"%s: the response is not a %s document (truncated or not XML); check dbprovider.endpoint and "
				"retry", what, root_name);
		} else {
			*out = doc;
			if (result) {
				char rn[128];
				snprintf(rn, sizeof rn, "%sResult", op);
				*result = stkdr__aws_xml_child(root, rn);
			}
		}
	}
	stkdr__http_resp_dispose(&resp);
	stkdr__free(url);
	return rc;
}

/* A call whose answer is only checked for success. */
static int rds_simple(rds_db *d, const char *op, const rparams *p, const char *subject)
{
	xmlDocPtr doc = NULL;
	int rc = rds_call(&doc, NULL, d, op, p, subject);
	if (doc)
		xmlFreeDoc(doc);
	return rc;
}

static int64_t xml_time(xmlNodePtr n, const char *name)
{
	char t[64];
	int64_t ms = 0;
	if (stkdr__aws_xml_text(t, sizeof t, n, name) && t[0] && stkdr__time_parse_rfc3339(&ms, t) != 0) {
		stkdr_error_clear();
		ms = 0;
	}
	return ms;
}

static const char *inst_name(rds_db *d, const char *instance)
{
	return instance && *instance ? instance : d->instance;
}

static int need(const char *v, const char *what, const char *op)
{
	if (v && *v)
		return 0;
	return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
		"RDS %s: no %s given (set dbprovider.instance in the configuration or name one)", op, what);
}

/* Fills d->d_* and *out from a <DBInstance> element. */
static void fill_instance(stkdr_db_instance_info *out, rds_db *d, xmlNodePtr in)
{
	char port[16], maz[16];
	stkdr__aws_xml_text(d->d_id, sizeof d->d_id, in, "DBInstanceIdentifier");
	stkdr__aws_xml_text(d->d_status, sizeof d->d_status, in, "DBInstanceStatus");
	stkdr__aws_xml_text(d->d_src, sizeof d->d_src, in, "ReadReplicaSourceDBInstanceIdentifier");
	stkdr__aws_xml_text(d->d_engine, sizeof d->d_engine, in, "Engine");
	stkdr__aws_xml_text(maz, sizeof maz, in, "MultiAZ");
	xmlNodePtr ep = stkdr__aws_xml_child(in, "Endpoint");
	stkdr__aws_xml_text(d->d_host, sizeof d->d_host, ep, "Address");
	stkdr__aws_xml_text(port, sizeof port, ep, "Port");
	memset(out, 0, sizeof *out);
	out->version = STKDR_DB_INSTANCE_INFO_VERSION;
	out->id = d->d_id;
	out->status = d->d_status;
	out->host = d->d_host;
	out->port = atoi(port);
	out->latest_restorable_ms = xml_time(in, "LatestRestorableTime");
	out->replica_source = d->d_src;
	out->multi_az = !strcmp(maz, "true");
	out->engine = d->d_engine;
}

static int rds_describe(stkdr_db_instance_info *out, stkdr_dbprovider *p_, const char *instance_in)
{
	rds_db *d = (rds_db *)p_;
	const char *instance = inst_name(d, instance_in);
	int rc = need(instance, "instance", "DescribeDBInstances");
	if (rc)
		return rc;
	rparams p = { .n = 0 };
	add(&p, "DBInstanceIdentifier", instance);
	xmlDocPtr doc = NULL;
	xmlNodePtr res = NULL;
	rc = rds_call(&doc, &res, d, "DescribeDBInstances", &p, instance);
	if (rc)
		return rc;
	xmlNodePtr in = stkdr__aws_xml_child(stkdr__aws_xml_child(res, "DBInstances"), "DBInstance");
	if (!in)
		rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_AWS, "DBInstanceNotFound",
			"RDS DescribeDBInstances %s: no such instance in the answer", instance);
	else
		fill_instance(out, d, in);
	xmlFreeDoc(doc);
	return rc;
}

/*
 * A tag value as RDS takes it: Unicode letters, digits, white space and _ . : / = + - @ (other ASCII
 * characters become '_'; bytes of UTF-8 sequences are passed on), cut at 255 bytes (RDS allows 256
 * characters) on a character boundary.
 */
static void tag_value(char *out, size_t cap, const char *v)
{
	size_t o = 0;
	for (; v && *v && o + 1 < cap && o < 255; v++) {
		unsigned char c = (unsigned char)*v;
		bool ok = c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  strchr(" _.:/=+-@", c) != NULL;
		out[o++] = ok ? (char)c : '_';
	}
	if (v && *v && o > 0 && ((unsigned char)*v & 0xC0) == 0x80) {
		/* cut inside a UTF-8 sequence: drop its first bytes too */
		while (o > 0 && ((unsigned char)out[o - 1] & 0xC0) == 0x80)
			o--;
		if (o > 0 && (unsigned char)out[o - 1] >= 0xC0)
			o--;
	}
	out[o] = '\0';
}

static int rds_snapshot_create_tagged(stkdr_dbprovider *p_, const char *instance_in, const char *snapshot_id,
	const char *kind, int keep, const char *label)
{
	rds_db *d = (rds_db *)p_;
	const char *instance = inst_name(d, instance_in);
	int rc = need(instance, "instance", "CreateDBSnapshot");
	if (!rc)
		rc = need(snapshot_id, "snapshot id", "CreateDBSnapshot");
	if (rc)
		return rc;
	rparams p = { .n = 0 };
	add(&p, "DBInstanceIdentifier", instance);
	add(&p, "DBSnapshotIdentifier", snapshot_id);
	int t = 1;
	if (kind && *kind) {
		add(&p, "Tags.Tag.1.Key", "stkdr:kind");
		addf(&p, "Tags.Tag.1.Value", "%.64s", kind);
		add(&p, "Tags.Tag.2.Key", "stkdr:keep");
		add(&p, "Tags.Tag.2.Value", keep ? "true" : "false");
		t = 3;
	}
	if (label && *label) {
		char v[257];
		tag_value(v, sizeof v, label);
		if (strcmp(v, label) != 0)
			stkdr__log(d->ctx, STKDR_LOG_WARN, "rds", "snapshot %s: label stored as \"%s\" (RDS tags take letters, "
				"digits, spaces and _.:/=+-@, at most 255 bytes here)", snapshot_id, v);
		add(&p, t == 1 ? "Tags.Tag.1.Key" : "Tags.Tag.3.Key", "stkdr:label");
		addf(&p, t == 1 ? "Tags.Tag.1.Value" : "Tags.Tag.3.Value", "%s", v);
	}
	char subj[300];
	snprintf(subj, sizeof subj, "%s of %s", snapshot_id, instance);
	return rds_simple(d, "CreateDBSnapshot", &p, subj);
}

static int rds_snapshot_create(stkdr_dbprovider *p_, const char *instance, const char *snapshot_id)
{
	return rds_snapshot_create_tagged(p_, instance, snapshot_id, NULL, 0, NULL);
}

typedef struct snap_row {
	char id[256], instance[128], status[64], type[32];
	int64_t created_ms, size_bytes;
	char kind[16], label[260];
	int keep;
} snap_row;

/* The stkdr:* tags of a <DBSnapshot>'s <TagList>. */
static void read_tags(snap_row *r, xmlNodePtr s)
{
	for (xmlNodePtr t = stkdr__aws_xml_child(stkdr__aws_xml_child(s, "TagList"), "Tag"); t; t = t->next) {
		char k[64], v[260];
		if (t->type != XML_ELEMENT_NODE || !stkdr__aws_xml_text(k, sizeof k, t, "Key"))
			continue;
		if (!stkdr__aws_xml_text(v, sizeof v, t, "Value"))
			v[0] = '\0';
		if (!strcmp(k, "stkdr:kind"))
			snprintf(r->kind, sizeof r->kind, "%.*s", (int)(sizeof r->kind - 1), v); /* a kind name, or cut */
		else if (!strcmp(k, "stkdr:keep"))
			r->keep = !strcmp(v, "true");
		else if (!strcmp(k, "stkdr:label"))
			snprintf(r->label, sizeof r->label, "%s", v);
	}
}

static int cmp_snap(const void *a, const void *b)
{
	const snap_row *x = a, *y = b;
	if (x->created_ms != y->created_ms)
		return x->created_ms < y->created_ms ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* DescribeDBSnapshots, all pages, into a sorted array. `snapshot_id` non-NULL: that one only. */
static int list_snaps(snap_row **rows_out, size_t *n_out, rds_db *d, const char *instance, const char *snapshot_id)
{
	snap_row *rows = NULL;
	size_t n = 0, cap = 0;
	char marker[1024] = "";
	int rc = 0;
	do {
		rparams p = { .n = 0 };
		add(&p, "DBInstanceIdentifier", instance);
		add(&p, "DBSnapshotIdentifier", snapshot_id);
		add(&p, "MaxRecords", "100");
		if (marker[0])
			add(&p, "Marker", marker);
		xmlDocPtr doc = NULL;
		xmlNodePtr res = NULL;
		rc = rds_call(&doc, &res, d, "DescribeDBSnapshots", &p,
			snapshot_id ? snapshot_id : instance ? instance : "(all instances)");
		if (rc)
			break;
		for (xmlNodePtr s = stkdr__aws_xml_child(stkdr__aws_xml_child(res, "DBSnapshots"), "DBSnapshot"); s && !rc;
			s = s->next) {
			if (s->type != XML_ELEMENT_NODE)
				continue;
			if ((rc = stkdr__grow(&rows, &cap, n, sizeof *rows, 16)) != 0)
				break;
			snap_row *r = &rows[n++];
			memset(r, 0, sizeof *r);
			char size[32];
			stkdr__aws_xml_text(r->id, sizeof r->id, s, "DBSnapshotIdentifier");
			stkdr__aws_xml_text(r->instance, sizeof r->instance, s, "DBInstanceIdentifier");
			stkdr__aws_xml_text(r->status, sizeof r->status, s, "Status");
			stkdr__aws_xml_text(r->type, sizeof r->type, s, "SnapshotType");
			stkdr__aws_xml_text(size, sizeof size, s, "AllocatedStorage");
			r->created_ms = xml_time(s, "SnapshotCreateTime");
			r->size_bytes = strtoll(size, NULL, 10) * 1024 * 1024 * 1024;
			read_tags(r, s);
		}
		stkdr__aws_xml_text(marker, sizeof marker, res, "Marker");
		xmlFreeDoc(doc);
	} while (!rc && marker[0]);
	if (rc) {
		stkdr__free(rows);
		return rc;
	}
	if (n)
		qsort(rows, n, sizeof *rows, cmp_snap);
	*rows_out = rows;
	*n_out = n;
	return 0;
}

static int rds_snapshot_list(stkdr_dbprovider *p_, const char *instance, stkdr_db_snapshot_cb cb, void *payload)
{
	rds_db *d = (rds_db *)p_;
	snap_row *rows = NULL;
	size_t n = 0;
	int rc = list_snaps(&rows, &n, d, instance && *instance ? instance : NULL, NULL);
	for (size_t i = 0; !rc && i < n; i++) {
		stkdr_db_snapshot_info si = { STKDR_DB_SNAPSHOT_INFO_VERSION, rows[i].id, rows[i].instance, rows[i].status,
			rows[i].type, rows[i].created_ms, rows[i].size_bytes, rows[i].kind, rows[i].keep, rows[i].label };
		rc = cb(&si, payload);
	}
	stkdr__free(rows);
	return rc;
}

static int rds_snapshot_delete(stkdr_dbprovider *p_, const char *snapshot_id)
{
	rds_db *d = (rds_db *)p_;
	int rc = need(snapshot_id, "snapshot id", "DeleteDBSnapshot");
	if (rc)
		return rc;
	rparams p = { .n = 0 };
	add(&p, "DBSnapshotIdentifier", snapshot_id);
	return rds_simple(d, "DeleteDBSnapshot", &p, snapshot_id);
}

/*
 * The settings of `template_id` (if it exists) that the new instance must share to be reachable by the
 * Hub: class, subnet group, VPC security groups, parameter group, Multi-AZ. A missing template is fine.
 */
static int copy_settings(rparams *p, rds_db *d, const char *template_id)
{
	if (!template_id || !*template_id)
		return 0;
	rparams q = { .n = 0 };
	add(&q, "DBInstanceIdentifier", template_id);
	xmlDocPtr doc = NULL;
	xmlNodePtr res = NULL;
	int rc = rds_call(&doc, &res, d, "DescribeDBInstances", &q, template_id);
	if (rc == STKDR_ENOTFOUND) {
		stkdr_error_clear();
		return 0;
	}
	if (rc)
		return rc;
	xmlNodePtr in = stkdr__aws_xml_child(stkdr__aws_xml_child(res, "DBInstances"), "DBInstance");
	char v[256];
	if (in && stkdr__aws_xml_text(v, sizeof v, in, "DBInstanceClass") && v[0])
		addf(p, "DBInstanceClass", "%s", v);
	if (in && stkdr__aws_xml_text(v, sizeof v, stkdr__aws_xml_child(in, "DBSubnetGroup"), "DBSubnetGroupName") && v[0])
		addf(p, "DBSubnetGroupName", "%s", v);
	if (in && stkdr__aws_xml_text(v, sizeof v, in, "MultiAZ") && v[0])
		addf(p, "MultiAZ", "%s", v);
	xmlNodePtr pg = stkdr__aws_xml_child(stkdr__aws_xml_child(in, "DBParameterGroups"), "DBParameterGroup");
	if (pg && stkdr__aws_xml_text(v, sizeof v, pg, "DBParameterGroupName") && v[0] && strncmp(v, "default.", 8))
		addf(p, "DBParameterGroupName", "%s", v);
	int k = 1;
	for (xmlNodePtr sg = stkdr__aws_xml_child(stkdr__aws_xml_child(in, "VpcSecurityGroups"), "VpcSecurityGroupMembership");
		sg && k <= 5; sg = sg->next) {
		if (sg->type != XML_ELEMENT_NODE || !stkdr__aws_xml_text(v, sizeof v, sg, "VpcSecurityGroupId") || !v[0])
			continue;
		char key[64];
		snprintf(key, sizeof key, "VpcSecurityGroupIds.VpcSecurityGroupId.%d", k++);
		/* the key must outlive this function too: keep it next to the value */
		if (p->nown + 2 > sizeof p->own / sizeof p->own[0])
			break;
		snprintf(p->own[p->nown], sizeof p->own[0], "%s", key);
		const char *kk = p->own[p->nown++];
		addf(p, kk, "%s", v);
	}
	xmlFreeDoc(doc);
	return 0;
}

static int rds_restore_snapshot(stkdr_dbprovider *p_, const char *snapshot_id, const char *new_instance)
{
	rds_db *d = (rds_db *)p_;
	int rc = need(snapshot_id, "snapshot id", "RestoreDBInstanceFromDBSnapshot");
	if (!rc)
		rc = need(new_instance, "new instance name", "RestoreDBInstanceFromDBSnapshot");
	if (rc)
		return rc;
	/* the instance the snapshot was taken of is the template */
	snap_row *rows = NULL;
	size_t n = 0;
	if ((rc = list_snaps(&rows, &n, d, NULL, snapshot_id)) != 0)
		return rc;
	char src[128] = "";
	if (n)
		snprintf(src, sizeof src, "%s", rows[0].instance);
	stkdr__free(rows);
	rparams p = { .n = 0 };
	add(&p, "DBInstanceIdentifier", new_instance);
	add(&p, "DBSnapshotIdentifier", snapshot_id);
	if ((rc = copy_settings(&p, d, src)) != 0)
		return rc;
	char subj[400];
	snprintf(subj, sizeof subj, "%s from snapshot %s", new_instance, snapshot_id);
	return rds_simple(d, "RestoreDBInstanceFromDBSnapshot", &p, subj);
}

static int rds_restore_time(stkdr_dbprovider *p_, const char *source_in, const char *new_instance, int64_t time_ms)
{
	rds_db *d = (rds_db *)p_;
	const char *source = inst_name(d, source_in);
	int rc = need(source, "source instance", "RestoreDBInstanceToPointInTime");
	if (!rc)
		rc = need(new_instance, "new instance name", "RestoreDBInstanceToPointInTime");
	if (rc)
		return rc;
	rparams p = { .n = 0 };
	add(&p, "SourceDBInstanceIdentifier", source);
	add(&p, "TargetDBInstanceIdentifier", new_instance);
	char t[40] = "latest restorable time";
	if (time_ms > 0) {
		/* whole seconds: RDS takes "2026-02-10T14:25:00Z" */
		stkdr__time_format_rfc3339(t, sizeof t, time_ms - time_ms % 1000);
		add(&p, "RestoreTime", t);
	} else {
		add(&p, "UseLatestRestorableTime", "true");
	}
	if ((rc = copy_settings(&p, d, source)) != 0)
		return rc;
	char subj[400];
	snprintf(subj, sizeof subj, "%s from %s at %s", new_instance, source, t);
	return rds_simple(d, "RestoreDBInstanceToPointInTime", &p, subj);
}

static int rds_replica_create(stkdr_dbprovider *p_, const char *source_in, const char *replica)
{
	rds_db *d = (rds_db *)p_;
	const char *source = inst_name(d, source_in);
	int rc = need(source, "source instance", "CreateDBInstanceReadReplica");
	if (!rc)
		rc = need(replica, "replica name", "CreateDBInstanceReadReplica");
	if (rc)
		return rc;
	rparams p = { .n = 0 };
	add(&p, "DBInstanceIdentifier", replica);
	add(&p, "SourceDBInstanceIdentifier", source);
	char subj[300];
	snprintf(subj, sizeof subj, "%s of %s", replica, source);
	return rds_simple(d, "CreateDBInstanceReadReplica", &p, subj);
}

static int rds_replica_promote(stkdr_dbprovider *p_, const char *replica)
{
	rds_db *d = (rds_db *)p_;
	int rc = need(replica, "replica name", "PromoteReadReplica");
	if (rc)
		return rc;
	rparams p = { .n = 0 };
	add(&p, "DBInstanceIdentifier", replica);
	return rds_simple(d, "PromoteReadReplica", &p, replica);
}

static int rds_reboot(stkdr_dbprovider *p_, const char *instance_in, int force_failover)
{
	rds_db *d = (rds_db *)p_;
	const char *instance = inst_name(d, instance_in);
	int rc = need(instance, "instance", "RebootDBInstance");
	if (rc)
		return rc;
	rparams p = { .n = 0 };
	add(&p, "DBInstanceIdentifier", instance);
	if (force_failover)
		add(&p, "ForceFailover", "true");
	return rds_simple(d, "RebootDBInstance", &p, instance);
}

static int rds_rename(stkdr_dbprovider *p_, const char *instance_in, const char *new_name)
{
	rds_db *d = (rds_db *)p_;
	const char *instance = inst_name(d, instance_in);
	int rc = need(instance, "instance", "ModifyDBInstance");
	if (!rc)
		rc = need(new_name, "new name", "ModifyDBInstance");
	if (rc)
		return rc;
	rparams p = { .n = 0 };
	add(&p, "DBInstanceIdentifier", instance);
	add(&p, "NewDBInstanceIdentifier", new_name);
	add(&p, "ApplyImmediately", "true");
	char subj[300];
	snprintf(subj, sizeof subj, "%s -> %s", instance, new_name);
	return rds_simple(d, "ModifyDBInstance", &p, subj);
}

static int rds_delete_instance(stkdr_dbprovider *p_, const char *instance, const char *final_snapshot_id)
{
	rds_db *d = (rds_db *)p_;
	int rc = need(instance, "instance", "DeleteDBInstance");
	if (rc)
		return rc;
	rparams p = { .n = 0 };
	add(&p, "DBInstanceIdentifier", instance);
	if (final_snapshot_id && *final_snapshot_id)
		add(&p, "FinalDBSnapshotIdentifier", final_snapshot_id);
	else
		add(&p, "SkipFinalSnapshot", "true");
	return rds_simple(d, "DeleteDBInstance", &p, instance);
}

/* Statuses an instance or snapshot never leaves by itself. */
static int terminal(const char *st)
{
	static const char *const bad[] = { "failed", "error", "incompatible-restore", "incompatible-parameters",
		"incompatible-network", "incompatible-option-group", "incompatible-credentials",
		"inaccessible-encryption-credentials", "restore-error", NULL };
	return is_code(st, bad);
}

/* What one wait is after (rds_wait), for its poll callbacks. */
typedef struct rds_waiting {
	rds_db *d;
	stkdr_dbprovider *p;
	stkdr_db_instance_info *out;
	int kind;
	const char *id;
	const char *want;
	const char *what;      /* "snapshot" or "instance" */
	int64_t timeout_ms;
	char st[64];           /* the status of the last poll */
	char last[64];         /* the last status logged */
} rds_waiting;

static int rds_wait_check(int *done, int64_t t0, int polls, void *payload)
{
	rds_waiting *w = payload;
	rds_db *d = w->d;
	char *st = w->st;
	int rc;
	(void)polls;
	st[0] = '\0';
	if (w->kind == STKDR_DB_WAIT_SNAPSHOT) {
		snap_row *rows = NULL;
		size_t n = 0;
		rc = list_snaps(&rows, &n, d, NULL, w->id);
		if (rc == 0 && n == 0)
			rc = stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_AWS, "DBSnapshotNotFound",
				"RDS DescribeDBSnapshots %s: no such snapshot", w->id);
		if (rc == 0)
			snprintf(st, sizeof w->st, "%s", rows[0].status);
		stkdr__free(rows);
	} else {
		stkdr_db_instance_info info;
		rc = rds_describe(&info, w->p, w->id);
		int64_t waited = stkdr__time_mono_ms() - t0;
		if (rc == STKDR_ENOTFOUND && w->kind == STKDR_DB_WAIT_GONE) {
			stkdr_error_clear();
			rc = 0;
			snprintf(st, sizeof w->st, "deleted");
		} else if (rc == STKDR_ENOTFOUND && waited < NOT_YET_GRACE_MS
			&& waited < (w->timeout_ms > 0 ? w->timeout_ms : 0)) {
			/* a new or renamed instance may take a moment to appear under its name */
			stkdr_error_clear();
			rc = 0;
			snprintf(st, sizeof w->st, "not-found-yet");
		} else if (rc == STKDR_ENOTFOUND) {
			stkdr__err_prefix("waiting %.1f s for instance %s to be %s", (double)waited / 1000.0, w->id, w->want);
		} else if (rc == 0) {
			snprintf(st, sizeof w->st, "%s", info.status);
			if (w->out)
				*w->out = info;
		}
	}
	if (rc)
		return rc;
	int64_t now = stkdr__time_mono_ms();
	if (strcmp(st, w->last) != 0) {
		stkdr__log(d->ctx, STKDR_LOG_INFO, "rds", "%s %s is %s (%.1f s)", w->what, w->id, st,
			(double)(now - t0) / 1000.0);
		snprintf(w->last, sizeof w->last, "%s", st);
	}
	cJSON *dj = cJSON_CreateObject();
	cJSON_AddStringToObject(dj, "status", st);
	cJSON_AddStringToObject(dj, "want", w->want);
	cJSON_AddStringToObject(dj, "kind", w->what);
	char *detail = cJSON_PrintUnformatted(dj);
	cJSON_Delete(dj);
	rc = stkdr__emit(d->ctx, STKDR_EVENT_PROGRESS, "dbprovider.wait", w->id, now - t0, w->timeout_ms, 0, detail);
	cJSON_free(detail);
	if (rc)
		return rc;
	*done = !strcmp(st, w->want);
	if (!*done && terminal(st))
		return stkdr__seterr(STKDR_EBACKEND, STKDR_ERRCLASS_AWS, st,
			"RDS %s %s is %s, which it will not leave by itself (waiting for %s); see the RDS console's events "
			"for %s", w->what, w->id, st, w->want, w->id);
	return 0;
}

static int rds_wait_timed_out(int64_t elapsed_ms, int polls, void *payload)
{
	rds_waiting *w = payload;
	return stkdr__seterr(STKDR_ETIMEOUT, STKDR_ERRCLASS_AWS, NULL,
		"RDS %s %s is still %s after %.1f s (%d polls), not %s; it may still get there: check with `stk "
		"status` or the RDS console, or wait longer (dbprovider.wait_timeout)", w->what, w->id,
		w->st[0] ? w->st : "unknown", (double)elapsed_ms / 1000.0, polls, w->want);
}

static int rds_wait(stkdr_db_instance_info *out, stkdr_dbprovider *p_, int kind, const char *id, const char *status,
	int64_t timeout_ms)
{
	rds_db *d = (rds_db *)p_;
	if (!id || !*id || (kind != STKDR_DB_WAIT_GONE && (!status || !*status)) || kind < STKDR_DB_WAIT_INSTANCE ||
		kind > STKDR_DB_WAIT_GONE)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"RDS wait: an id, a known kind and (but for GONE) a status are needed");
	rds_waiting w = { d, p_, out, kind, id, kind == STKDR_DB_WAIT_GONE ? "deleted" : status,
		kind == STKDR_DB_WAIT_SNAPSHOT ? "snapshot" : "instance", timeout_ms, "", "" };
	stkdr__log(d->ctx, STKDR_LOG_INFO, "rds", "waiting up to %lld s for %s %s to be %s", (long long)(timeout_ms / 1000),
		w.what, id, w.want);
	stkdr__aws_poller pl = { timeout_ms, d->poll_max_ms < 500 ? d->poll_max_ms : 500, d->poll_max_ms, rds_wait_check,
		rds_wait_timed_out, &w };
	return stkdr__aws_poll(&pl);
}

static int rds_ctl(stkdr_backend *be, int op, void *arg)
{
	if (op == STKDR_CTL_ATTACH) {
		((rds_db *)be)->ctx = arg;
		return 0;
	}
	return STKDR_ENOTSUPPORTED;
}

static void rds_free(stkdr_backend *be)
{
	rds_db *d = (rds_db *)be;
	if (!d)
		return;
	stkdr__aws_service_close(&d->svc);
	stkdr__free(d->instance);
	stkdr__free(d);
}

int stkdr__rds_dbprovider_new(stkdr_dbprovider **out, stkdr_ctx *ctx)
{
	*out = NULL;
	stkdr__aws_xml_init();
	rds_db *d = stkdr__calloc(1, sizeof *d);
	if (!d)
		return oom();
	stkdr_backend_init(&d->pub.base, STKDR_BACKEND_DBPROVIDER, STKDR_DBPROVIDER_VERSION, "aws-rds");
	d->pub.base.ctl = rds_ctl;
	d->pub.base.free = rds_free;
	d->pub.describe = rds_describe;
	d->pub.snapshot_create = rds_snapshot_create;
	d->pub.snapshot_list = rds_snapshot_list;
	d->pub.snapshot_delete = rds_snapshot_delete;
	d->pub.restore_snapshot = rds_restore_snapshot;
	d->pub.restore_time = rds_restore_time;
	d->pub.replica_create = rds_replica_create;
	d->pub.replica_promote = rds_replica_promote;
	d->pub.reboot = rds_reboot;
	d->pub.rename = rds_rename;
	d->pub.delete_instance = rds_delete_instance;
	d->pub.wait = rds_wait;
	d->pub.snapshot_create_tagged = rds_snapshot_create_tagged;
	d->ctx = ctx;
	int rc = 0;
	const char *inst = stkdr__cfg_str(ctx, "dbprovider.instance");
	if (inst && *inst && !(d->instance = stkdr__strdup(inst)))
		rc = oom();
	if (rc == 0)
		rc = stkdr__aws_region(d->region, sizeof d->region, ctx, "dbprovider.region");
	d->poll_max_ms = stkdr__cfg_int(ctx, "dbprovider.poll_interval_ms", 15000);
	if (d->poll_max_ms < 1)
		d->poll_max_ms = 1;
	char host[128];
	snprintf(host, sizeof host, "rds.%s.amazonaws.com", d->region);
	if (rc == 0) /* control-plane calls are small: a 2-minute request timeout */
		rc = stkdr__aws_service_open(&d->svc, ctx, "dbprovider.endpoint", host, 120000);
	if (rc) {
		rds_free(&d->pub.base);
		return rc;
	}
	*out = &d->pub;
	return 0;
}
