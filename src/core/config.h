/* The configuration: a JSON document checked against a schema of known keys. Internal. */
#ifndef STKDR_CORE_CONFIG_H
#define STKDR_CORE_CONFIG_H

#include "internal.h"

typedef enum stkdr__cfg_type {
	STKDR__CFG_STR = 1,
	STKDR__CFG_INT = 2,
	STKDR__CFG_BOOL = 3,
	STKDR__CFG_DURATION = 4, /* "24h" or a number of seconds; read as milliseconds */
	STKDR__CFG_ENUM = 5,
	STKDR__CFG_TIME = 6      /* RFC 3339; read as Unix ms */
} stkdr__cfg_type;

#define STKDR__CFG_SECRET 0x1u   /* never shown in clear (dump, get) */
#define STKDR__CFG_CONNINFO 0x2u /* a libpq conninfo: the password is redacted when shown */
#define STKDR__CFG_BACKEND 0x4u  /* a backend name: built-in names or a registered backend */

typedef struct stkdr__cfg_key {
	const char *key;      /* dotted path */
	int type;             /* stkdr__cfg_type */
	const char *dflt;     /* default as text, or NULL */
	const char *choices;  /* ENUM / BACKEND: '|'-separated */
	int64_t min, max;     /* INT range */
	uint32_t flags;
	const char *required_if; /* "section.key=value": required when that key has that value; "always" */
	const char *doc;      /* one-line description */
} stkdr__cfg_key;

/* The schema, for docs and `stk config keys`. */
const stkdr__cfg_key *stkdr__cfg_schema(size_t *n_out);
const stkdr__cfg_key *stkdr__cfg_lookup(const char *key);
/* "objstore.path" -> "STKDR_OBJSTORE_PATH" into out. */
void stkdr__cfg_env_name(char *out, size_t out_len, const char *key);

typedef struct stkdr__config stkdr__config;

/* Loads from text (if non-NULL) or a file (if non-NULL), else empty; applies environment overrides
 * unless no_env. Fails (EINVAL/CONFIG) on unreadable file, malformed JSON (with line:column), a
 * non-object root, or known keys of the wrong type (all of them listed). */
int stkdr__config_load(stkdr__config **out, const char *path, const char *text, int no_env);
void stkdr__config_free(stkdr__config *cfg);
const char *stkdr__config_path(const stkdr__config *cfg); /* "" if none */

/* Typed access with defaults. str returns NULL when unset without default; ints/bools/durations as
 * int64 (durations in ms, bools 0/1). For a non-string key, str() gives the text form. */
const char *stkdr__config_str(stkdr__config *cfg, const char *key);
int stkdr__config_int(int64_t *out, stkdr__config *cfg, const char *key); /* ENOTFOUND if unset, no default */
int stkdr__config_set(stkdr__config *cfg, const char *key, const char *value); /* parse per type */
int stkdr__config_set_int(stkdr__config *cfg, const char *key, int64_t value);

/* Reports every problem; `is_backend_name(kind_section, name, payload)` says whether a non-built-in
 * backend name is registered. Returns the number of problems, or a negative callback value. */
typedef bool (*stkdr__backend_known_fn)(const char *section, const char *name, void *payload);
int stkdr__config_check(stkdr__config *cfg, stkdr__backend_known_fn known, void *known_payload,
	stkdr_config_problem_cb cb, void *payload);

/* Effective configuration as JSON with secrets redacted, defaults filled in. */
int stkdr__config_dump(stkdr_buf *out, stkdr__config *cfg);

#endif
