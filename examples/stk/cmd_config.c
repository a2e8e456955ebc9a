/* stk config check | show | keys */
#include "commands.h"

#include <stdio.h>
#include <string.h>

/* ---- stk config check ---- */

typedef struct check_state {
	cli *c;
	cJSON *problems; /* --json: the array being built */
	int count;
} check_state;

static cJSON *problem_json(const char *file, const char *field, const char *message)
{
	cJSON *o = cJSON_CreateObject();
	if (o && (!cJSON_AddStringToObject(o, "file", file) || !cJSON_AddStringToObject(o, "field", field) ||
			!cJSON_AddStringToObject(o, "message", message))) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static int on_problem(const char *field, const char *message, void *payload)
{
	check_state *s = payload;
	const char *file = cli_config_name(s->c);
	s->count++;
	if (s->problems) {
		cJSON *o = problem_json(file, field, message);
		if (!o)
			return STKDR_EUSER;
		cJSON_AddItemToArray(s->problems, o);
	} else if (field && *field) {
		printf("%s: %s: %s\n", file, field, message);
	} else {
		printf("%s: %s\n", file, message);
	}
	return 0;
}

int cmd_config_check(cli *c, int argc, char **argv)
{
	check_state s = { c, NULL, 0 };
	int rc = cli_open(c);
	if (rc != 0) {
		/* Unreadable file, malformed JSON, wrong types: already printed on stderr. */
		if (c->json) {
			cJSON *arr = cJSON_CreateArray();
			cJSON *o = problem_json(cli_config_name(c), "", stkdr_error_last()->message);
			if (!arr || !o) {
				cJSON_Delete(arr);
				cJSON_Delete(o);
				return cli_json_print(NULL);
			}
			cJSON_AddItemToArray(arr, o);
			cli_json_print(arr);
		}
		return rc;
	}
	if (c->json && !(s.problems = cJSON_CreateArray()))
		return cli_json_print(NULL);
	rc = stkdr_ctx_check(c->ctx, on_problem, &s);
	if (s.problems) {
		int out = cli_json_print(s.problems);
		if (out != 0)
			return out;
	}
	if (rc == STKDR_EUSER && s.problems) {
		cli_errorf("out of memory");
		return CLI_EXIT_FAILURE;
	}
	if (rc != 0)
		return cli_fail(c, rc);
	cli_info(c, "configuration OK: %s", cli_config_name(c));
	return CLI_EXIT_OK;
}

/* ---- stk config show ---- */

int cmd_config_show(cli *c, int argc, char **argv)
{
	stkdr_buf out = STKDR_BUF_INIT;
	int rc = cli_open(c);
	if (rc != 0)
		return rc;
	rc = stkdr_ctx_config_json(&out, c->ctx);
	if (rc != 0)
		return cli_fail(c, rc);
	/* The configuration is JSON with or without --json. */
	rc = cli_json_print_text(out.ptr ? out.ptr : "{}");
	stkdr_buf_dispose(&out);
	return rc;
}

/* ---- stk config keys ---- */

/* Writes a Markdown table cell: '|' escaped, newlines as spaces. */
static void md_cell(const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|')
			fputs("\\|", stdout);
		else
			fputc(*s == '\n' ? ' ' : *s, stdout);
	}
}

/* "a|b|c" as "`a`, `b`, `c`" (or without backticks). */
static void print_choices(const char *choices, int code)
{
	const char *q = code ? "`" : "";
	fputs(q, stdout);
	for (const char *p = choices; *p; p++) {
		if (*p == '|')
			printf("%s, %s", q, q);
		else
			fputc(*p, stdout);
	}
	fputs(q, stdout);
}

static void keys_markdown(void)
{
	const stkdr_config_key *k;
	printf("| Key | Type | Default | Environment | Required when | Description |\n");
	printf("| --- | --- | --- | --- | --- | --- |\n");
	for (size_t i = 0; (k = stkdr_config_key_at(i)) != NULL; i++) {
		printf("| `%s` | ", k->key);
		md_cell(k->type);
		if (k->choices) {
			fputs(": ", stdout);
			print_choices(k->choices, 1);
		}
		if (k->secret)
			fputs(" (secret)", stdout);
		fputs(" | ", stdout);
		if (k->default_value)
			printf("`%s`", k->default_value);
		printf(" | `%s` | ", k->env);
		if (k->required_when && strcmp(k->required_when, "always") == 0)
			fputs("always", stdout);
		else if (k->required_when)
			printf("`%s`", k->required_when);
		fputs(" | ", stdout);
		md_cell(k->description);
		fputs(" |\n", stdout);
	}
}

static int keys_json(void)
{
	const stkdr_config_key *k;
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; arr && (k = stkdr_config_key_at(i)) != NULL; i++) {
		cJSON *o = cJSON_CreateObject();
		if (!o) {
			cJSON_Delete(arr);
			return cli_json_print(NULL);
		}
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "key", k->key);
		cJSON_AddStringToObject(o, "type", k->type);
		if (k->default_value)
			cJSON_AddStringToObject(o, "default", k->default_value);
		else
			cJSON_AddNullToObject(o, "default");
		if (k->choices) {
			cJSON *ch = cJSON_AddArrayToObject(o, "choices");
			const char *p = k->choices;
			while (ch && p && *p) {
				const char *bar = strchr(p, '|');
				char one[128];
				snprintf(one, sizeof one, "%.*s", (int)(bar ? (size_t)(bar - p) : strlen(p)), p);
				cJSON_AddItemToArray(ch, cJSON_CreateString(one));
				p = bar ? bar + 1 : NULL;
			}
		} else {
			cJSON_AddNullToObject(o, "choices");
		}
		cJSON_AddStringToObject(o, "env", k->env);
		if (k->required_when)
			cJSON_AddStringToObject(o, "required_when", k->required_when);
		else
			cJSON_AddNullToObject(o, "required_when");
		cJSON_AddStringToObject(o, "description", k->description);
		cJSON_AddBoolToObject(o, "secret", k->secret != 0);
	}
	return cli_json_print(arr);
}

static void keys_text(void)
{
	const stkdr_config_key *k;
	for (size_t i = 0; (k = stkdr_config_key_at(i)) != NULL; i++) {
		printf("%s  (%s", k->key, k->type);
		if (k->choices) {
			fputs(": ", stdout);
			print_choices(k->choices, 0);
		}
		if (k->secret)
			fputs(", secret", stdout);
		if (k->default_value)
			printf("; default %s", k->default_value);
		if (k->required_when)
			printf("; required %s%s", strcmp(k->required_when, "always") ? "when " : "", k->required_when);
		printf("; env %s)\n    %s\n", k->env, k->description);
	}
}

int cmd_config_keys(cli *c, int argc, char **argv)
{
	if (cli_flag(c, "markdown") && c->json)
		return cli_usage(c, "--markdown and --json are exclusive");
	if (c->json)
		return keys_json();
	if (cli_flag(c, "markdown"))
		keys_markdown();
	else
		keys_text();
	return CLI_EXIT_OK;
}
