/*
 * The configuration: a JSON document (file or text) plus STKDR_<SECTION>_<KEY> environment overrides
 * plus setter calls, checked against the schema below. The schema is the single source of truth for
 * docs/configuration.md (`stk config keys --markdown` prints it; a test compares them).
 */
#include "config.h"
#include "timeutil.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define I64MAX INT64_MAX

/* clang-format off */
static const stkdr__cfg_key schema[] = {
	{ "deployment", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, "always",
	  "Name of the deployment (e.g. hub-prod): the repository prefix and the name in every report. Letters, digits, '-', '_', '.'." },

	{ "postgres.conninfo", STKDR__CFG_STR, NULL, NULL, 0, 0, STKDR__CFG_CONNINFO, "dbprovider.backend=local-postgres",
	  "libpq connection string of the Hub DB (a password in it is never shown; prefer PGPASSFILE)." },
	{ "postgres.data_dir", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL,
	  "Data directory of the Hub DB cluster on this host (local-postgres)." },
	{ "postgres.bin_dir", STKDR__CFG_STR, "/usr/lib/postgresql/15/bin", NULL, 0, 0, 0, NULL,
	  "Directory of the PostgreSQL server programs (pg_ctl, initdb, pg_verifybackup)." },

	{ "objstore.backend", STKDR__CFG_ENUM, "local", "local|s3|azure-blob", 0, 0, STKDR__CFG_BACKEND, NULL,
	  "Where the repository lives: local (a directory), s3, azure-blob, or a registered backend's name." },
	{ "objstore.path", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, "objstore.backend=local",
	  "local: the repository directory (created if missing)." },
	{ "objstore.prefix", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL,
	  "Key prefix of this deployment inside the store (default: the deployment name)." },
	{ "objstore.bucket", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, "objstore.backend=s3",
	  "s3: the bucket." },
	{ "objstore.region", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL,
	  "s3: the region (default: AWS_REGION, then us-east-1)." },
	{ "objstore.endpoint", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL,
	  "s3 / azure-blob: endpoint override for emulators and compatible stores (http://127.0.0.1:5000)." },
	{ "objstore.path_style", STKDR__CFG_BOOL, NULL, NULL, 0, 0, 0, NULL,
	  "s3: path-style addressing (http://host/bucket/key) instead of virtual-hosted (bucket.host); default: true when "
	  "objstore.endpoint is set, else false." },
	{ "objstore.sse", STKDR__CFG_ENUM, "none", "none|AES256|aws:kms", 0, 0, 0, NULL,
	  "s3: server-side encryption of new objects: none (the bucket's default), AES256 (SSE-S3) or aws:kms (SSE-KMS)." },
	{ "objstore.kms_key_id", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL,
	  "s3: the KMS key (id, ARN or alias) for objstore.sse = aws:kms; unset: the AWS managed key." },
	{ "objstore.payload_signing", STKDR__CFG_ENUM, "signed", "signed|streaming|unsigned", 0, 0, 0, NULL,
	  "s3: how PutObject/UploadPart bodies are signed: signed (the body's SHA-256 in the signature), streaming "
	  "(aws-chunked: every 64 KiB chunk signed, chained from the request's signature) or unsigned "
	  "(UNSIGNED-PAYLOAD, https endpoints only: TLS and x-amz-checksum-sha256 protect the body)." },
	{ "objstore.part_size", STKDR__CFG_INT, "16777216", NULL, 5242880, 5368709120LL, 0, NULL,
	  "s3: multipart part size in bytes (5 MiB..5 GiB); larger objects are uploaded in parts. One part per writer "
	  "and per upload thread is buffered in memory." },
	{ "objstore.parallel", STKDR__CFG_INT, "4", NULL, 1, 64, 0, NULL,
	  "s3: parts of one object uploaded at once, and ranges of one object read ahead (threads, each with its own "
	  "connection)." },
	{ "objstore.list_page", STKDR__CFG_INT, "1000", NULL, 1, 1000, 0, NULL,
	  "s3: keys per ListObjectsV2 page (max-keys)." },
	{ "objstore.read_chunk", STKDR__CFG_INT, "8388608", NULL, 1, I64MAX, 0, NULL,
	  "s3: bytes per ranged GET when reading (each range is retried on its own; objstore.parallel of them in "
	  "flight)." },
	{ "objstore.max_attempts", STKDR__CFG_INT, "5", NULL, 1, 20, 0, NULL,
	  "s3 / AWS: attempts per request on throttling, 5xx and connection failures (full-jitter backoff)." },
	{ "objstore.retry_base_ms", STKDR__CFG_INT, "100", NULL, 0, 60000, 0, NULL,
	  "s3 / AWS: base delay of the exponential backoff between attempts, in ms." },
	{ "objstore.connect_timeout", STKDR__CFG_DURATION, "10s", NULL, 0, 0, 0, NULL,
	  "s3 / AWS: how long one connection attempt may take before it counts as failed (and is retried)." },
	{ "objstore.stall_timeout", STKDR__CFG_DURATION, "60s", NULL, 0, 0, 0, NULL,
	  "s3 / AWS: a request that sends or receives no byte for this long (a hung server or a dead link) is abandoned and retried; whole seconds, at least 1." },
	{ "objstore.retrieval_delay", STKDR__CFG_DURATION, NULL, NULL, 0, 0, 0, NULL,
	  "local: when set, archive-tier objects behave like S3 Deep Archive (a read needs a retrieval, which "
	  "completes after this long: \"0s\" in tests, \"12h\" for a drill); unset: the archive tier reads at once." },
	{ "objstore.account", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, "objstore.backend=azure-blob",
	  "azure-blob: the storage account name." },
	{ "objstore.container", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, "objstore.backend=azure-blob",
	  "azure-blob: the container." },

	{ "secrets.backend", STKDR__CFG_ENUM, "local", "local|aws-secretsmanager|azure-keyvault", 0, 0, STKDR__CFG_BACKEND, NULL,
	  "Where secrets (signing-key backups, the archive signing key) are kept." },
	{ "secrets.path", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, "secrets.backend=local",
	  "local: the secrets directory (created 0700 if missing; every version sealed with the master key)." },
	{ "secrets.region", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL, "aws-secretsmanager: the region." },
	{ "secrets.endpoint", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL, "aws-secretsmanager / azure-keyvault: endpoint override." },
	{ "secrets.replica_region", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL, "aws-secretsmanager: a second region that receives a copy." },
	{ "secrets.vault_url", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, "secrets.backend=azure-keyvault", "azure-keyvault: the vault URL." },

	{ "dbprovider.backend", STKDR__CFG_ENUM, "local-postgres", "local-postgres|aws-rds|azure-pgflex", 0, 0, STKDR__CFG_BACKEND, NULL,
	  "Who takes snapshots and restores: local-postgres (this library, on this host), aws-rds, azure-pgflex." },
	{ "dbprovider.instance", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, "dbprovider.backend=aws-rds",
	  "aws-rds / azure-pgflex: the Hub DB instance identifier." },
	{ "dbprovider.region", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL, "aws-rds: the region." },
	{ "dbprovider.endpoint", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL, "aws-rds / azure-pgflex: endpoint override." },
	{ "dbprovider.wait_timeout", STKDR__CFG_DURATION, "2h", NULL, 0, 0, 0, NULL,
	  "aws-rds / azure-pgflex: how long a restore, rename or failover waits for an instance to become available." },
	{ "dbprovider.poll_interval_ms", STKDR__CFG_INT, "15000", NULL, 1, 600000, 0, NULL,
	  "aws-rds / azure-pgflex: longest pause between two status polls while waiting (starts at 0.5 s and doubles)." },

	{ "dns.backend", STKDR__CFG_ENUM, "local", "local|route53|azure-dns", 0, 0, STKDR__CFG_BACKEND, NULL,
	  "Where the Hub's name is switched on failover." },
	{ "dns.path", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, "dns.backend=local", "local: the JSON file holding the records." },
	{ "dns.zone_id", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, "dns.backend=route53", "route53: the hosted zone id." },
	{ "dns.endpoint", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL, "route53 / azure-dns: endpoint override." },
	{ "dns.record", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL, "The Hub's DNS name (hub.santokit.com)." },
	{ "dns.ttl", STKDR__CFG_INT, "60", NULL, 1, 2147483647, 0, NULL, "TTL in seconds of records written on failover." },

	{ "snapshot.compression", STKDR__CFG_ENUM, "gzip", "none|gzip|zstd", 0, 0, 0, NULL,
	  "Compression of snapshot objects (WAL has wal.compression)." },
	{ "snapshot.level", STKDR__CFG_INT, "3", NULL, 0, 19, 0, NULL,
	  "Compression level (gzip 0-9, zstd 1-19)." },
	{ "snapshot.parallel", STKDR__CFG_INT, "2", NULL, 1, 64, 0, NULL,
	  "Files read, hashed and compressed in parallel." },
	{ "restore.wal_command", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL,
	  "restore_command written into restored clusters for point-in-time recovery (%f, %p as PostgreSQL's). "
	  "Unset: stk wal get %f \"%p\", which needs stk on the server's PATH and the configuration in its "
	  "environment (STKDR_CONFIG)." },

	{ "restore.swap_file", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL,
	  "`stk restore --swap` rewrites this file (the Hub's EnvironmentFile) with DATABASE_URL=<restored cluster>." },
	{ "verify.tables", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL,
	  "Tables whose rows verification counts, comma-separated [db.][schema.]table (e.g. hub.public.releases)." },
	{ "verify.smoke_query", STKDR__CFG_STR, "SELECT count(*) FROM pg_catalog.pg_class", NULL, 0, 0, 0, NULL,
	  "A query verification runs on the restored copy; it must succeed." },
	{ "verify.scratch_dir", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL,
	  "Where verification restores its throwaway copy (default: $TMPDIR, else /tmp)." },

	{ "wal.compression", STKDR__CFG_ENUM, "auto", "auto|none|gzip|zstd", 0, 0, 0, NULL,
	  "Compression of archived WAL (`stk wal push`, `stk wal receive`). auto: zstd when the build has it, "
	  "else gzip." },
	{ "wal.level", STKDR__CFG_INT, "-1", NULL, -7, 19, 0, NULL,
	  "Compression level of archived WAL: zstd -7 to 19 (negative: its fast levels), gzip 1-9 (lower "
	  "values count as 1). -1 keeps archive_command fast." },
	{ "wal.prefetch", STKDR__CFG_INT, "8", NULL, 0, 256, 0, NULL,
	  "Segments `stk wal get` fetches ahead in the background during recovery (0: none)." },
	{ "wal.slot", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL,
	  "Physical replication slot of `stk wal receive` (default: stkdr_<deployment>)." },
	{ "wal.partial_interval", STKDR__CFG_DURATION, "5s", NULL, 0, 0, 0, NULL,
	  "How often `stk wal receive` uploads the segment in progress (bounds the RPO)." },

	{ "retention.hourly", STKDR__CFG_DURATION, "7d", NULL, 0, 0, 0, NULL, "How long hourly snapshots are kept." },
	{ "retention.daily", STKDR__CFG_DURATION, "30d", NULL, 0, 0, 0, NULL, "How long daily snapshots are kept." },
	{ "retention.monthly", STKDR__CFG_DURATION, "365d", NULL, 0, 0, 0, NULL, "How long monthly snapshots are kept." },

	{ "targets.rpo", STKDR__CFG_DURATION, "1h", NULL, 0, 0, 0, NULL, "Recovery point objective checked by `stk status`." },
	{ "targets.rto", STKDR__CFG_DURATION, "4h", NULL, 0, 0, 0, NULL, "Recovery time objective checked by drills." },

	{ "audit.table", STKDR__CFG_STR, "audit_log", NULL, 0, 0, 0, NULL, "The Hub DB's audit table." },
	{ "audit.retention_years", STKDR__CFG_INT, "7", NULL, 1, 100, 0, NULL, "Years each archived day stays immutable." },
	{ "audit.lag", STKDR__CFG_DURATION, "1h", NULL, 0, 0, 0, NULL, "How long after a day ends it may be exported." },
	{ "audit.columns", STKDR__CFG_STR, "id,timestamp,actor,action,resource,details", NULL, 0, 0, 0, NULL,
	  "The audit table's columns for id, timestamp, actor, action, resource, details (in this order, comma-separated)." },
	{ "audit.retrieval_speed", STKDR__CFG_ENUM, "bulk", "bulk|standard", 0, 0, 0, NULL,
	  "Retrieval requested by audit restore/verify for a day in the archive tier: bulk (S3 Deep Archive: within "
	  "48 h, cheapest) or standard (within 12 h)." },
	{ "audit.retrieval_days", STKDR__CFG_INT, "7", NULL, 1, 365, 0, NULL,
	  "Days a retrieved archive-tier day stays readable (S3 RestoreObject Days)." },
	{ "audit.restore_parallel", STKDR__CFG_INT, "2", NULL, 1, 16, 0, NULL,
	  "Days `stk audit restore` imports at once, each in its own transaction on its own connection." },

	{ "keys.master_key_secret", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL,
	  "Name of a secret (in a non-local secrets backend) holding the master key; default: $STKDR_MASTER_KEY." },
	{ "keys.overlap", STKDR__CFG_DURATION, "24h", NULL, 0, 0, 0, NULL, "How long a rotated key still verifies tokens." },
	{ "keys.backup_replica", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL,
	  "Configuration file whose `secrets` section is a second target of `stk keys backup` (another region)." },
	{ "keys.table", STKDR__CFG_STR, "stkdr_signing_keys", NULL, 0, 0, 0, NULL,
	  "Hub DB table of the signing keys ([schema.]name; created if missing)." },
	{ "keys.algorithm", STKDR__CFG_ENUM, "ES256", "ES256|RS256", 0, 0, 0, NULL,
	  "Algorithm of keys made by `stk keys generate|rotate` (ES256: P-256; RS256: RSA 2048)." },
	{ "keys.issuer", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL,
	  "`iss` of issued tokens, and required of verified ones when set." },
	{ "keys.audience", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL,
	  "`aud` of issued tokens, and required of verified ones when set." },
	{ "keys.token_ttl", STKDR__CFG_DURATION, "15m", NULL, 0, 0, 0, NULL, "Default lifetime of issued tokens." },
	{ "keys.leeway", STKDR__CFG_DURATION, "60s", NULL, 0, 0, 0, NULL, "Clock skew tolerated on `exp`/`nbf`." },
	{ "keysync.hub_url", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL,
	  "Base URL of the Hub (https://hub.example.com); the JWKS is fetched from <url>/v1/projects/<p>/envs/<e>/jwks.json." },
	{ "keysync.project", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL, "The Bridge's project (default for --project)." },
	{ "keysync.cache_dir", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL,
	  "Directory of the last good JWKS per project/env (created 0700; files 0600)." },
	{ "keysync.ca_file", STKDR__CFG_STR, NULL, NULL, 0, 0, 0, NULL, "CA bundle that verifies the Hub's certificate (default: the system's)." },
	{ "keysync.timeout", STKDR__CFG_DURATION, "10s", NULL, 0, 0, 0, NULL, "Timeout of one JWKS request." },
	{ "keysync.retries", STKDR__CFG_INT, "3", NULL, 0, 20, 0, NULL, "Retries of a failed fetch (exponential backoff with jitter)." },
	{ "keysync.refresh_interval", STKDR__CFG_DURATION, "30s", NULL, 0, 0, 0, NULL,
	  "At most one refresh per interval when tokens carry an unknown `kid`." },

	{ "log.level", STKDR__CFG_ENUM, "info", "none|fatal|error|warn|info|debug|trace", 0, 0, 0, NULL,
	  "Default log level of the programs (the library itself logs only through a callback)." },

	{ "clock.fake_now", STKDR__CFG_TIME, NULL, NULL, 0, 0, 0, NULL,
	  "Testing only: pretend the time is this (RFC 3339) for retention and status." },
};
/* clang-format on */

/* Sections whose keys are checked; other top-level objects are reported as unknown. */
static const char *const sections[] = { "postgres", "objstore", "secrets", "dbprovider", "dns", "snapshot", "verify",
	"restore", "wal",
	"retention", "targets", "audit", "keys", "keysync", "log", "clock", "failover", "aws", "azure" };

struct stkdr__config {
	cJSON *root;
	char *path;
	char textbuf[64]; /* text form of the last non-string value read with str() */
	char *strcache;   /* for values that need allocation */
};

const stkdr__cfg_key *stkdr__cfg_schema(size_t *n_out)
{
	if (n_out)
		*n_out = STKDR__ARRAY_SIZE(schema);
	return schema;
}

const stkdr__cfg_key *stkdr__cfg_lookup(const char *key)
{
	if (!key)
		return NULL;
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(schema); i++)
		if (strcmp(schema[i].key, key) == 0)
			return &schema[i];
	return NULL;
}

void stkdr__cfg_env_name(char *out, size_t out_len, const char *key)
{
	size_t o = 0;
	const char *pre = "STKDR_";
	for (; *pre && o + 1 < out_len; pre++)
		out[o++] = *pre;
	for (; *key && o + 1 < out_len; key++)
		out[o++] = *key == '.' || *key == '-' ? '_' : (char)toupper((unsigned char)*key);
	out[o] = '\0';
}

static const char *type_name(int t)
{
	switch (t) {
	case STKDR__CFG_STR: return "a string";
	case STKDR__CFG_INT: return "an integer";
	case STKDR__CFG_BOOL: return "a boolean";
	case STKDR__CFG_DURATION: return "a duration such as \"30s\", \"15m\", \"24h\", \"7d\"";
	case STKDR__CFG_ENUM: return "a string";
	case STKDR__CFG_TIME: return "an RFC 3339 time such as \"2026-02-10T14:25:00Z\"";
	default: return "a value";
	}
}

static const char *json_kind(const cJSON *v)
{
	if (cJSON_IsString(v)) return "a string";
	if (cJSON_IsNumber(v)) return "a number";
	if (cJSON_IsBool(v)) return "a boolean";
	if (cJSON_IsNull(v)) return "null";
	if (cJSON_IsArray(v)) return "an array";
	if (cJSON_IsObject(v)) return "an object";
	return "an invalid value";
}

static bool choice_ok(const char *choices, const char *v)
{
	size_t n = strlen(v);
	const char *p = choices;
	while (p && *p) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncmp(p, v, n) == 0)
			return true;
		p = bar ? bar + 1 : NULL;
	}
	return false;
}

/* Splits "a.b" into the section object and leaf name; creates the section when `create`. */
static cJSON *lookup_node(cJSON *root, const char *key, bool create, cJSON **parent_out, const char **leaf_out)
{
	const char *dot = strchr(key, '.');
	cJSON *parent = root;
	const char *leaf = key;
	if (dot) {
		char sect[64];
		size_t n = (size_t)(dot - key);
		if (n >= sizeof sect)
			return NULL;
		memcpy(sect, key, n);
		sect[n] = '\0';
		parent = cJSON_GetObjectItemCaseSensitive(root, sect);
		if (!parent || !cJSON_IsObject(parent)) {
			if (!create)
				return NULL;
			if (parent)
				cJSON_DeleteItemFromObjectCaseSensitive(root, sect);
			parent = cJSON_AddObjectToObject(root, sect);
			if (!parent)
				return NULL;
		}
		leaf = dot + 1;
	}
	if (parent_out)
		*parent_out = parent;
	if (leaf_out)
		*leaf_out = leaf;
	return cJSON_GetObjectItemCaseSensitive(parent, leaf);
}

/* Validates a value against its schema entry; writes a problem into msg. Returns true if OK. */
static bool value_ok(const stkdr__cfg_key *k, const cJSON *v, char *msg, size_t msg_len)
{
	int64_t ms;
	switch (k->type) {
	case STKDR__CFG_STR:
		if (!cJSON_IsString(v)) {
			snprintf(msg, msg_len, "expected %s, got %s", type_name(k->type), json_kind(v));
			return false;
		}
		if (v->valuestring[0] == '\0') {
			snprintf(msg, msg_len, "must not be empty");
			return false;
		}
		return true;
	case STKDR__CFG_ENUM:
		if (!cJSON_IsString(v)) {
			snprintf(msg, msg_len, "expected one of %s, got %s", k->choices, json_kind(v));
			return false;
		}
		if (!(k->flags & STKDR__CFG_BACKEND) && !choice_ok(k->choices, v->valuestring)) {
			snprintf(msg, msg_len, "\"%s\" is not one of %s", v->valuestring, k->choices);
			return false;
		}
		return true;
	case STKDR__CFG_INT:
		if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble) {
			snprintf(msg, msg_len, "expected %s, got %s", type_name(k->type), json_kind(v));
			return false;
		}
		if ((k->min || k->max) && ((int64_t)v->valuedouble < k->min || (int64_t)v->valuedouble > k->max)) {
			snprintf(msg, msg_len, "%" PRId64 " is out of range (%" PRId64 "..%" PRId64 ")",
				(int64_t)v->valuedouble, k->min, k->max);
			return false;
		}
		return true;
	case STKDR__CFG_BOOL:
		if (!cJSON_IsBool(v)) {
			snprintf(msg, msg_len, "expected %s (true or false), got %s", type_name(k->type), json_kind(v));
			return false;
		}
		return true;
	case STKDR__CFG_DURATION:
		if (cJSON_IsNumber(v) && v->valuedouble >= 0)
			return true;
		if (cJSON_IsString(v) && stkdr__time_parse_duration(&ms, v->valuestring) == 0)
			return true;
		if (cJSON_IsString(v))
			snprintf(msg, msg_len, "\"%s\" is not %s", v->valuestring, type_name(k->type));
		else
			snprintf(msg, msg_len, "expected %s, got %s", type_name(k->type), json_kind(v));
		stkdr_error_clear();
		return false;
	case STKDR__CFG_TIME:
		if (cJSON_IsString(v) && stkdr__time_parse_rfc3339(&ms, v->valuestring) == 0)
			return true;
		snprintf(msg, msg_len, "expected %s", type_name(k->type));
		stkdr_error_clear();
		return false;
	}
	return false;
}

static void line_col(const char *text, const char *at, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (const char *p = text; p < at && *p; p++) {
		if (*p == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static int read_file(char **out, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return stkdr__seterr_os(errno, "configuration file %s cannot be read", path);
	stkdr_buf b = STKDR_BUF_INIT;
	char tmp[8192];
	size_t n;
	int rc = 0;
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) {
		if ((rc = stkdr_buf_put(&b, tmp, n)) != 0)
			break;
		if (b.size > 16 * 1024 * 1024) {
			rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
				"configuration file %s is larger than 16 MiB: is it the right file?", path);
			break;
		}
	}
	if (!rc && ferror(f))
		rc = stkdr__seterr_os(errno ? errno : EIO, "configuration file %s cannot be read", path);
	fclose(f);
	if (rc) {
		stkdr_buf_dispose(&b);
		return rc;
	}
	*out = stkdr__buf_detach(&b);
	return *out ? 0 : stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
}

/* Sets key from text according to its type (env overrides and stkdr_ctx_set_str). */
static int set_from_text(stkdr__config *cfg, const stkdr__cfg_key *k, const char *value, const char *origin)
{
	cJSON *parent;
	const char *leaf;
	cJSON *nv = NULL;
	char *end = NULL;
	if (!value)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL, "%s: %s: value is NULL", origin, k->key);
	switch (k->type) {
	case STKDR__CFG_INT: {
		errno = 0;
		long long v = strtoll(value, &end, 10);
		if (errno || end == value || *end)
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL, "%s: %s: \"%s\" is not an integer",
				origin, k->key, value);
		nv = cJSON_CreateNumber((double)v);
		break;
	}
	case STKDR__CFG_BOOL:
		if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes") || !strcmp(value, "on"))
			nv = cJSON_CreateTrue();
		else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no") || !strcmp(value, "off"))
			nv = cJSON_CreateFalse();
		else
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
				"%s: %s: \"%s\" is not a boolean (true or false)", origin, k->key, value);
		break;
	default:
		nv = cJSON_CreateString(value);
		break;
	}
	if (!nv)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	char msg[256];
	if (!value_ok(k, nv, msg, sizeof msg)) {
		cJSON_Delete(nv);
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL, "%s: %s: %s", origin, k->key, msg);
	}
	if (!lookup_node(cfg->root, k->key, true, &parent, &leaf) && !parent) {
		cJSON_Delete(nv);
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	}
	if (cJSON_GetObjectItemCaseSensitive(parent, leaf))
		cJSON_ReplaceItemInObjectCaseSensitive(parent, leaf, nv);
	else
		cJSON_AddItemToObject(parent, leaf, nv);
	return 0;
}

int stkdr__config_load(stkdr__config **out, const char *path, const char *text, int no_env)
{
	char *owned = NULL;
	int rc;
	*out = NULL;
	stkdr__config *cfg = stkdr__calloc(1, sizeof *cfg);
	if (!cfg)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	const char *where = text ? "configuration text" : path;
	if (!text && path) {
		if ((rc = read_file(&owned, path)) != 0) {
			stkdr__free(cfg);
			return rc == STKDR_ENOTFOUND ? rc : (stkdr__err_get()->klass == STKDR_ERRCLASS_OS ? STKDR_EINVAL : rc);
		}
		text = owned;
		cfg->path = stkdr__strdup(path);
	}
	if (text) {
		const char *endp = NULL;
		cfg->root = cJSON_ParseWithOpts(text, &endp, 1);
		if (!cfg->root) {
			const char *at = cJSON_GetErrorPtr();
			int line = 1, col = 1;
			if (at)
				line_col(text, at, &line, &col);
			rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
				"%s: malformed JSON at line %d, column %d: check for a missing comma, quote or brace", where, line, col);
			goto fail;
		}
		if (!cJSON_IsObject(cfg->root)) {
			rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
				"%s: the configuration must be a JSON object ({...}), got %s", where, json_kind(cfg->root));
			goto fail;
		}
	} else {
		cfg->root = cJSON_CreateObject();
		if (!cfg->root) {
			rc = stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
			goto fail;
		}
	}
	if (!no_env) {
		for (size_t i = 0; i < STKDR__ARRAY_SIZE(schema); i++) {
			char env[128];
			stkdr__cfg_env_name(env, sizeof env, schema[i].key);
			const char *v = getenv(env);
			if (v && (rc = set_from_text(cfg, &schema[i], v, env)) != 0)
				goto fail;
		}
	}
	/* Type-check every known key present; list all the problems. */
	{
		stkdr_buf msgs = STKDR_BUF_INIT;
		int bad = 0;
		for (size_t i = 0; i < STKDR__ARRAY_SIZE(schema); i++) {
			cJSON *v = lookup_node(cfg->root, schema[i].key, false, NULL, NULL);
			char msg[256];
			if (v && !value_ok(&schema[i], v, msg, sizeof msg)) {
				stkdr__buf_printf(&msgs, "%sfield %s: %s", bad ? "; " : "", schema[i].key, msg);
				bad++;
			}
		}
		for (cJSON *s = cfg->root->child; s; s = s->next) {
			if (!s->string)
				continue;
			bool is_section = false;
			for (size_t i = 0; i < STKDR__ARRAY_SIZE(sections); i++)
				if (!strcmp(sections[i], s->string))
					is_section = true;
			if (is_section && !cJSON_IsObject(s)) {
				stkdr__buf_printf(&msgs, "%sfield %s: expected an object, got %s", bad ? "; " : "", s->string,
					json_kind(s));
				bad++;
			}
		}
		if (bad) {
			rc = stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL, "%s: %s", where ? where : "configuration",
				msgs.ptr);
			stkdr_buf_dispose(&msgs);
			goto fail;
		}
	}
	stkdr__free(owned);
	*out = cfg;
	return 0;
fail:
	stkdr__free(owned);
	stkdr__config_free(cfg);
	return rc;
}

void stkdr__config_free(stkdr__config *cfg)
{
	if (!cfg)
		return;
	cJSON_Delete(cfg->root);
	stkdr__free(cfg->path);
	stkdr__free(cfg->strcache);
	stkdr__free(cfg);
}

const char *stkdr__config_path(const stkdr__config *cfg)
{
	return cfg && cfg->path ? cfg->path : "";
}

const char *stkdr__config_str(stkdr__config *cfg, const char *key)
{
	const stkdr__cfg_key *k = stkdr__cfg_lookup(key);
	cJSON *v = lookup_node(cfg->root, key, false, NULL, NULL);
	if (v && cJSON_IsString(v))
		return v->valuestring;
	if (v && cJSON_IsNumber(v)) {
		if (k && k->type == STKDR__CFG_DURATION)
			snprintf(cfg->textbuf, sizeof cfg->textbuf, "%" PRId64 "s", (int64_t)v->valuedouble);
		else
			snprintf(cfg->textbuf, sizeof cfg->textbuf, "%" PRId64, (int64_t)v->valuedouble);
		return cfg->textbuf;
	}
	if (v && cJSON_IsBool(v))
		return cJSON_IsTrue(v) ? "true" : "false";
	if (!v && key && !strcmp(key, "objstore.prefix"))
		return stkdr__config_str(cfg, "deployment");
	return k ? k->dflt : NULL;
}

int stkdr__config_int(int64_t *out, stkdr__config *cfg, const char *key)
{
	const stkdr__cfg_key *k = stkdr__cfg_lookup(key);
	if (!k)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL, "unknown configuration key \"%s\"", key);
	cJSON *v = lookup_node(cfg->root, key, false, NULL, NULL);
	const char *text = NULL;
	if (v && cJSON_IsNumber(v)) {
		*out = (int64_t)v->valuedouble;
		if (k->type == STKDR__CFG_DURATION)
			*out *= 1000;
		return 0;
	}
	if (v && cJSON_IsBool(v)) {
		*out = cJSON_IsTrue(v);
		return 0;
	}
	if (v && cJSON_IsString(v))
		text = v->valuestring;
	else if (!v)
		text = k->dflt;
	if (!text)
		return stkdr__seterr(STKDR_ENOTFOUND, STKDR_ERRCLASS_CONFIG, NULL, "configuration key %s is not set", key);
	switch (k->type) {
	case STKDR__CFG_DURATION:
		return stkdr__time_parse_duration(out, text);
	case STKDR__CFG_TIME:
		return stkdr__time_parse_rfc3339(out, text);
	case STKDR__CFG_BOOL:
		*out = !strcmp(text, "true");
		return 0;
	case STKDR__CFG_INT: {
		char *end;
		errno = 0;
		long long x = strtoll(text, &end, 10);
		if (errno || *end)
			return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL, "%s: \"%s\" is not an integer", key, text);
		*out = x;
		return 0;
	}
	default:
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL, "configuration key %s is not a number", key);
	}
}

int stkdr__config_set(stkdr__config *cfg, const char *key, const char *value)
{
	const stkdr__cfg_key *k = stkdr__cfg_lookup(key);
	if (!k)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"unknown configuration key \"%s\" (see docs/configuration.md)", key ? key : "(null)");
	return set_from_text(cfg, k, value, "setting");
}

int stkdr__config_set_int(stkdr__config *cfg, const char *key, int64_t value)
{
	const stkdr__cfg_key *k = stkdr__cfg_lookup(key);
	if (!k)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL,
			"unknown configuration key \"%s\" (see docs/configuration.md)", key ? key : "(null)");
	if (k->type != STKDR__CFG_INT && k->type != STKDR__CFG_DURATION && k->type != STKDR__CFG_BOOL)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL, "%s: expected %s, not an integer", key,
			type_name(k->type));
	char text[32];
	if (k->type == STKDR__CFG_DURATION)
		snprintf(text, sizeof text, "%" PRId64 "ms", value);
	else if (k->type == STKDR__CFG_BOOL)
		snprintf(text, sizeof text, "%s", value ? "true" : "false");
	else
		snprintf(text, sizeof text, "%" PRId64, value);
	return set_from_text(cfg, k, text, "setting");
}

/* Levenshtein distance, for "did you mean". */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63)
		return 99;
	size_t d[64][64];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < c)
				c = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < c)
				c = d[i][j - 1] + 1;
			d[i][j] = c;
		}
	return d[la][lb];
}

static const char *suggest(const char *key)
{
	const char *best = NULL;
	size_t bestd = 4;
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(schema); i++) {
		size_t dd = edit_distance(key, schema[i].key);
		if (dd < bestd) {
			bestd = dd;
			best = schema[i].key;
		}
	}
	return best;
}

typedef struct problems {
	stkdr_config_problem_cb cb;
	void *payload;
	int count;
	int stop;
	char first[512];
} problems;

static void problem(problems *p, const char *field, const char *fmt, ...) STKDR__PRINTF(3, 4);
static void problem(problems *p, const char *field, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (p->count == 0)
		snprintf(p->first, sizeof p->first, "%.100s: %.400s", field, msg);
	p->count++;
	if (p->cb && !p->stop) {
		int r = p->cb(field, msg, p->payload);
		if (r < 0)
			p->stop = r;
	}
}

static bool section_known(const char *s)
{
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(sections); i++)
		if (!strcmp(sections[i], s))
			return true;
	return false;
}

static void check_dir_usable(problems *p, const char *field, const char *path, bool must_exist)
{
	struct stat st;
	if (stat(path, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			problem(p, field, "%s exists but is not a directory", path);
		else if (access(path, W_OK | X_OK) != 0 && !must_exist)
			problem(p, field, "%s is not writable by this user", path);
		return;
	}
	if (must_exist) {
		problem(p, field, "%s does not exist (%s)", path, strerror(errno));
		return;
	}
	/* Will be created: the nearest existing ancestor must be a writable directory. */
	char *dup = stkdr__strdup(path);
	if (!dup)
		return;
	for (;;) {
		char *slash = strrchr(dup, '/');
		if (!slash) {
			break;
		}
		if (slash == dup)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(dup, &st) == 0) {
			if (!S_ISDIR(st.st_mode))
				problem(p, field, "%s cannot be created: %s is not a directory", path, dup);
			else if (access(dup, W_OK | X_OK) != 0)
				problem(p, field, "%s cannot be created: %s is not writable by this user", path, dup);
			break;
		}
		if (slash == dup)
			break;
	}
	stkdr__free(dup);
}

static void check_file_parent(problems *p, const char *field, const char *path)
{
	char *dup = stkdr__strdup(path);
	if (!dup)
		return;
	char *slash = strrchr(dup, '/');
	if (slash && slash != dup) {
		*slash = '\0';
		check_dir_usable(p, field, dup, false);
	}
	stkdr__free(dup);
}

int stkdr__config_check(stkdr__config *cfg, stkdr__backend_known_fn known, void *known_payload,
	stkdr_config_problem_cb cb, void *payload)
{
	problems p = { cb, payload, 0, 0, "" };
	char msg[256];

	/* Unknown keys and sections, and wrong types (setters may have changed things since load). */
	for (cJSON *s = cfg->root->child; s; s = s->next) {
		if (!s->string)
			continue;
		if (cJSON_IsObject(s) && section_known(s->string)) {
			if (!strcmp(s->string, "aws") || !strcmp(s->string, "azure") || !strcmp(s->string, "failover"))
				continue; /* documented sections whose keys the cloud/failover modules define */
			for (cJSON *k = s->child; k; k = k->next) {
				char full[160];
				snprintf(full, sizeof full, "%s.%s", s->string, k->string ? k->string : "");
				const stkdr__cfg_key *sk = stkdr__cfg_lookup(full);
				if (!sk) {
					const char *sug = suggest(full);
					if (sug)
						problem(&p, full, "unknown key (did you mean %s?)", sug);
					else
						problem(&p, full, "unknown key (see docs/configuration.md for the keys of [%s])", s->string);
				} else if (!value_ok(sk, k, msg, sizeof msg)) {
					problem(&p, full, "%s", msg);
				}
			}
		} else if (section_known(s->string)) {
			problem(&p, s->string, "expected an object, got %s", json_kind(s));
		} else if (stkdr__cfg_lookup(s->string)) {
			const stkdr__cfg_key *sk = stkdr__cfg_lookup(s->string);
			if (!value_ok(sk, s, msg, sizeof msg))
				problem(&p, s->string, "%s", msg);
		} else {
			const char *sug = suggest(s->string);
			if (sug)
				problem(&p, s->string, "unknown key (did you mean %s?)", sug);
			else
				problem(&p, s->string, "unknown key or section (see docs/configuration.md)");
		}
	}

	/* Backend names, and keys required by the chosen backends. */
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(schema); i++) {
		const stkdr__cfg_key *k = &schema[i];
		if (k->flags & STKDR__CFG_BACKEND) {
			const char *v = stkdr__config_str(cfg, k->key);
			char sect[64];
			snprintf(sect, sizeof sect, "%.*s", (int)(strchr(k->key, '.') - k->key), k->key);
			if (v && !choice_ok(k->choices, v) && !(known && known(sect, v, known_payload)))
				problem(&p, k->key, "\"%s\" is not a known backend (built in: %s; or register one with "
					"stkdr_ctx_add_backend)", v, k->choices);
		}
		if (!k->required_if)
			continue;
		bool required = false;
		if (!strcmp(k->required_if, "always")) {
			required = true;
		} else {
			const char *eq = strchr(k->required_if, '=');
			char cond[64];
			snprintf(cond, sizeof cond, "%.*s", (int)(eq - k->required_if), k->required_if);
			const char *cv = stkdr__config_str(cfg, cond);
			required = cv && !strcmp(cv, eq + 1);
		}
		if (required && !lookup_node(cfg->root, k->key, false, NULL, NULL)) {
			char env[128];
			stkdr__cfg_env_name(env, sizeof env, k->key);
			if (!strcmp(k->required_if, "always"))
				problem(&p, k->key, "required: set it in the configuration or with %s", env);
			else
				problem(&p, k->key, "required when %s: set it in the configuration or with %s", k->required_if, env);
		}
	}

	/* Values with constraints beyond their type. */
	const char *dep = stkdr__config_str(cfg, "deployment");
	if (dep && *dep) {
		for (const char *c = dep; *c; c++)
			if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.') {
				problem(&p, "deployment", "\"%s\" contains '%c': use letters, digits, '-', '_' and '.'", dep, *c);
				break;
			}
	}
	const char *ob = stkdr__config_str(cfg, "objstore.backend");
	const char *op = stkdr__config_str(cfg, "objstore.path");
	if (ob && !strcmp(ob, "local") && op) {
		if (op[0] != '/')
			problem(&p, "objstore.path", "\"%s\" must be an absolute path", op);
		else
			check_dir_usable(&p, "objstore.path", op, false);
	}
	const char *sb = stkdr__config_str(cfg, "secrets.backend");
	const char *sp = stkdr__config_str(cfg, "secrets.path");
	if (sb && !strcmp(sb, "local") && sp) {
		if (sp[0] != '/')
			problem(&p, "secrets.path", "\"%s\" must be an absolute path", sp);
		else
			check_dir_usable(&p, "secrets.path", sp, false);
	}
	const char *db = stkdr__config_str(cfg, "dns.backend");
	const char *dp = stkdr__config_str(cfg, "dns.path");
	if (db && !strcmp(db, "local") && dp) {
		if (dp[0] != '/')
			problem(&p, "dns.path", "\"%s\" must be an absolute path", dp);
		else
			check_file_parent(&p, "dns.path", dp);
	}
	const char *pb = stkdr__config_str(cfg, "dbprovider.backend");
	if (pb && !strcmp(pb, "local-postgres")) {
		const char *bin = stkdr__config_str(cfg, "postgres.bin_dir");
		if (bin) {
			char *pgctl = stkdr__aprintf("%s/pg_ctl", bin);
			if (pgctl && access(pgctl, X_OK) != 0)
				problem(&p, "postgres.bin_dir", "%s has no executable pg_ctl: install PostgreSQL 15 or set the "
					"directory of its server programs", bin);
			stkdr__free(pgctl);
		}
	}
	const char *comp = stkdr__config_str(cfg, "snapshot.compression");
	if (comp && !strcmp(comp, "zstd") && !stkdr_has_feature("zstd"))
		problem(&p, "snapshot.compression", "zstd is not available in this build: use gzip or rebuild with libzstd");
	comp = stkdr__config_str(cfg, "wal.compression");
	if (comp && !strcmp(comp, "zstd") && !stkdr_has_feature("zstd"))
		problem(&p, "wal.compression", "zstd is not available in this build: use auto, gzip or rebuild with libzstd");

	if (p.stop)
		return p.stop;
	if (p.count)
		stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_CONFIG, NULL, "%s%s%d problem%s in the configuration; first: %s",
			cfg->path ? cfg->path : "", cfg->path ? ": " : "", p.count, p.count == 1 ? "" : "s", p.first);
	return p.count;
}

/* Replaces "password=..." in a conninfo by "password=<redacted>" (keyword/value and URI forms). */
static char *redact_conninfo(const char *ci)
{
	stkdr_buf b = STKDR_BUF_INIT;
	const char *p = ci;
	const char *pw = strstr(p, "password=");
	if (pw) {
		stkdr_buf_put(&b, p, (size_t)(pw - p));
		stkdr__buf_printf(&b, "password=<redacted>");
		const char *e = pw + 9;
		if (*e == '\'') {
			e++;
			while (*e && *e != '\'')
				e += (*e == '\\' && e[1]) ? 2 : 1;
			if (*e)
				e++;
		} else {
			while (*e && !isspace((unsigned char)*e) && *e != '&')
				e++;
		}
		stkdr_buf_put(&b, e, strlen(e));
	} else if (!strncmp(ci, "postgres", 8) && strstr(ci, "://")) {
		/* postgresql://user:secret@host/db */
		const char *s = strstr(ci, "://") + 3;
		const char *at = strchr(s, '@');
		const char *colon = strchr(s, ':');
		if (at && colon && colon < at) {
			stkdr_buf_put(&b, ci, (size_t)(colon - ci) + 1);
			stkdr__buf_printf(&b, "<redacted>");
			stkdr_buf_put(&b, at, strlen(at));
		} else {
			stkdr_buf_put(&b, ci, strlen(ci));
		}
	} else {
		stkdr_buf_put(&b, ci, strlen(ci));
	}
	return stkdr__buf_detach(&b);
}

int stkdr__config_dump(stkdr_buf *out, stkdr__config *cfg)
{
	cJSON *copy = cJSON_Duplicate(cfg->root, 1);
	if (!copy)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(schema); i++) {
		const stkdr__cfg_key *k = &schema[i];
		cJSON *parent;
		const char *leaf;
		cJSON *v = lookup_node(copy, k->key, false, NULL, NULL);
		if (!v && k->dflt) {
			lookup_node(copy, k->key, true, &parent, &leaf);
			if (k->type == STKDR__CFG_INT)
				cJSON_AddNumberToObject(parent, leaf, strtod(k->dflt, NULL));
			else
				cJSON_AddStringToObject(parent, leaf, k->dflt);
			continue;
		}
		if (v && cJSON_IsString(v) && (k->flags & STKDR__CFG_SECRET)) {
			cJSON_SetValuestring(v, "<redacted>");
		} else if (v && cJSON_IsString(v) && (k->flags & STKDR__CFG_CONNINFO)) {
			char *r = redact_conninfo(v->valuestring);
			if (r) {
				lookup_node(copy, k->key, false, &parent, &leaf);
				cJSON_ReplaceItemInObjectCaseSensitive(parent, leaf, cJSON_CreateString(r));
				stkdr__wipe(r, strlen(r));
				stkdr__free(r);
			}
		}
	}
	char *s = cJSON_Print(copy);
	cJSON_Delete(copy);
	if (!s)
		return stkdr__seterr(STKDR_ENOMEM, STKDR_ERRCLASS_OS, "ENOMEM", "out of memory");
	int rc = stkdr_buf_set(out, s, strlen(s));
	cJSON_free(s);
	return rc;
}

/* ---- public introspection ---- */

#include <pthread.h>

static stkdr_config_key pub_keys[STKDR__ARRAY_SIZE(schema)];
static char pub_env[STKDR__ARRAY_SIZE(schema)][96];
static pthread_once_t pub_once = PTHREAD_ONCE_INIT;

static void pub_init(void)
{
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(schema); i++) {
		const stkdr__cfg_key *k = &schema[i];
		stkdr__cfg_env_name(pub_env[i], sizeof pub_env[i], k->key);
		pub_keys[i].version = STKDR_CONFIG_KEY_VERSION;
		pub_keys[i].key = k->key;
		pub_keys[i].type = k->type == STKDR__CFG_STR ? "string"
			: k->type == STKDR__CFG_INT	     ? "integer"
			: k->type == STKDR__CFG_BOOL	     ? "boolean"
			: k->type == STKDR__CFG_DURATION   ? "duration"
			: k->type == STKDR__CFG_ENUM	     ? "enum"
							     : "time";
		pub_keys[i].default_value = k->dflt;
		pub_keys[i].choices = k->choices;
		pub_keys[i].env = pub_env[i];
		pub_keys[i].required_when = k->required_if;
		pub_keys[i].description = k->doc;
		pub_keys[i].secret = (k->flags & (STKDR__CFG_SECRET | STKDR__CFG_CONNINFO)) != 0;
	}
}

const stkdr_config_key *stkdr_config_key_at(size_t index)
{
	pthread_once(&pub_once, pub_init);
	return index < STKDR__ARRAY_SIZE(schema) ? &pub_keys[index] : NULL;
}
