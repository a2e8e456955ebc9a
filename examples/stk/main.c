/*
 * stk: global options, command dispatch, help and --version.
 *
 * The command line is read in two passes. The first takes the global options out wherever they are
 * (before or after the command words, CLI.md) and keeps everything else in order. The second matches
 * the leading words against the command table and parses the rest with the command's own options.
 * Anything after "--" is positional.
 */
#include "cli.h"
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef STK_VERSION
#define STK_VERSION STKDR_VERSION_STRING
#endif

static const char *const features[] = { "zstd", "postgres", "s3", "azure" };

static const char global_options_help[] =
	"  --config FILE       configuration file (default: $STKDR_CONFIG)\n"
	"  --json              print results as JSON on stdout\n"
	"  -v, --verbose       more log output on stderr (-v info, -vv debug, -vvv trace)\n"
	"  -q, --quiet         only errors on stderr, no informational output\n"
	"  -h, --help          show help (stk COMMAND --help for one command)\n"
	"      --version       show the versions of stk and libstkdr and the compiled-in features\n";

static const char exit_codes_help[] =
	"Exit codes: 0 ok, 1 failure, 2 usage, 3 configuration invalid, 4 not found,\n"
	"5 verification failed / data corrupt, 6 authentication, 7 backend or network unavailable,\n"
	"8 timeout, 9 locked or immutable, 10 pending (archive retrieval under way: re-run later);\n"
	"`wal get` only: 126 archived but cannot be restored (PostgreSQL then stops recovery).\n";

/* ---- help ---- */

static void print_help(FILE *f)
{
	fprintf(f, "usage: stk [global options] COMMAND [options] [arguments]\n\n"
		"Disaster recovery for the Santokit Hub (libstkdr %s).\n\nCommands:\n", stkdr_version());
	for (const cli_command *cmd = cli_commands; cmd->words; cmd++) {
		char left[64];
		snprintf(left, sizeof left, "%s%s%s", cmd->words, cmd->args ? " " : "", cmd->args ? cmd->args : "");
		/* at least two spaces between the columns, also for a long left column */
		fprintf(f, "  %-22s%s%s\n", left, strlen(left) >= 22 ? "  " : " ", cmd->summary);
	}
	fprintf(f, "\nGlobal options (before or after the command words):\n%s\n%s\nSee docs/cli.md.\n",
		global_options_help, exit_codes_help);
}

void cli_print_command_help(const cli_command *cmd, int to_stderr)
{
	FILE *f = to_stderr ? stderr : stdout;
	int has_opts = cmd->options && cmd->options[0].name;
	fprintf(f, "usage: stk %s%s%s%s\n\n%s.\n", cmd->words, has_opts ? " [options]" : "", cmd->args ? " " : "",
		cmd->args ? cmd->args : "", cmd->summary);
	if (cmd->details)
		fprintf(f, "\n%s\n", cmd->details);
	if (has_opts) {
		fputs("\nOptions:\n", f);
		for (const cli_option *o = cmd->options; o->name; o++) {
			char left[64];
			if (o->short_name)
				snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name, o->arg ? " " : "",
					o->arg ? o->arg : "");
			else
				snprintf(left, sizeof left, "    --%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
			fprintf(f, "  %-22s %s\n", left, o->help);
		}
	}
	fprintf(f, "\nGlobal options:\n%s", global_options_help);
}

/* Lists the commands under a group word ("config"). */
static void print_group_help(FILE *f, char **words, int nwords)
{
	fputs("usage: stk", f);
	for (int i = 0; i < nwords; i++)
		fprintf(f, " %s", words[i]);
	fputs(" COMMAND\n\nCommands:\n", f);
	for (const cli_command *cmd = cli_commands; cmd->words; cmd++) {
		const char *p = cmd->words;
		int ok = 1;
		for (int i = 0; i < nwords && ok; i++) {
			size_t n = strlen(words[i]);
			ok = strncmp(p, words[i], n) == 0 && (p[n] == ' ' || p[n] == '\0');
			if (ok)
				p += n + (p[n] == ' ');
		}
		if (ok)
			fprintf(f, "  %-22s %s\n", cmd->words, cmd->summary);
	}
	fprintf(f, "\nstk COMMAND --help shows a command's options.\n");
}

static int print_version(const cli *c)
{
	if (c->json) {
		cJSON *doc = cJSON_CreateObject();
		cJSON *feat = doc ? cJSON_AddObjectToObject(doc, "features") : NULL;
		if (!feat) {
			cJSON_Delete(doc);
			return cli_json_print(NULL);
		}
		cJSON_AddStringToObject(doc, "stk", STK_VERSION);
		cJSON_AddStringToObject(doc, "libstkdr", stkdr_version());
		cJSON_AddNumberToObject(doc, "libstkdr_number", stkdr_version_number());
		for (size_t i = 0; i < sizeof features / sizeof features[0]; i++)
			cJSON_AddBoolToObject(feat, features[i], stkdr_has_feature(features[i]) != 0);
		return cli_json_print(doc);
	}
	printf("stk %s (libstkdr %s)\nfeatures:", STK_VERSION, stkdr_version());
	for (size_t i = 0; i < sizeof features / sizeof features[0]; i++)
		printf(" %s%s", stkdr_has_feature(features[i]) ? "+" : "-", features[i]);
	printf("\n");
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

/* ---- global options ---- */

typedef struct globals {
	int help;
	int version;
	int config_given;
} globals;

/* Splits "--name=value" into name length and value. */
static size_t long_name_len(const char *arg, const char **value)
{
	const char *eq = strchr(arg, '=');
	*value = eq ? eq + 1 : NULL;
	return eq ? (size_t)(eq - arg) : strlen(arg);
}

static int long_is(const char *arg, size_t len, const char *name)
{
	return strlen(name) == len && strncmp(arg, name, len) == 0;
}

/* Returns 1 if argv[*i] was a global option (consumed, with its value), 0 if not, or CLI_EXIT_USAGE
 * after printing the reason. */
static int parse_global(cli *c, globals *g, int argc, char **argv, int *i)
{
	const char *arg = argv[*i];
	if (arg[1] == '-') {
		const char *value;
		size_t len = long_name_len(arg, &value);
		if (long_is(arg, len, "--config")) {
			if (!value) {
				if (*i + 1 >= argc)
					return -cli_usage(NULL, "option '--config' needs a FILE");
				value = argv[++*i];
			}
			if (!*value)
				return -cli_usage(NULL, "option '--config' needs a FILE, not an empty string");
			c->config_path = value;
			g->config_given = 1;
			return 1;
		}
		static const char *const flags[] = { "--json", "--verbose", "--quiet", "--help", "--version" };
		for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++) {
			if (!long_is(arg, len, flags[k]))
				continue;
			if (value)
				return -cli_usage(NULL, "option '%s' takes no value", flags[k]);
			switch (k) {
			case 0: c->json = 1; break;
			case 1: c->verbose++; break;
			case 2: c->quiet = 1; break;
			case 3: g->help = 1; break;
			default: g->version = 1; break;
			}
			return 1;
		}
		return 0;
	}
	/* Short options: a bundle made only of global flags ("-vv", "-qh"). */
	if (strspn(arg + 1, "vqh") != strlen(arg + 1))
		return 0;
	for (const char *p = arg + 1; *p; p++) {
		if (*p == 'v')
			c->verbose++;
		else if (*p == 'q')
			c->quiet = 1;
		else
			g->help = 1;
	}
	return 1;
}

/* ---- command options ---- */

static const cli_option *find_long(const cli_command *cmd, const char *name, size_t len, int *idx)
{
	for (int k = 0; cmd->options && cmd->options[k].name && k < CLI_MAX_OPTIONS; k++) {
		if (strlen(cmd->options[k].name) == len && strncmp(cmd->options[k].name, name, len) == 0) {
			*idx = k;
			return &cmd->options[k];
		}
	}
	return NULL;
}

static const cli_option *find_short(const cli_command *cmd, char ch, int *idx)
{
	for (int k = 0; cmd->options && cmd->options[k].name && k < CLI_MAX_OPTIONS; k++) {
		if (cmd->options[k].short_name == ch) {
			*idx = k;
			return &cmd->options[k];
		}
	}
	return NULL;
}

/* Parses the command's options out of args[0..n); the positional arguments are compacted into args and
 * their count stored in *npos. Returns 0 or CLI_EXIT_USAGE. */
static int parse_command_options(cli *c, char **args, int n, int *npos)
{
	const cli_command *cmd = c->cmd;
	int out = 0, only_positional = 0;
	for (int i = 0; i < n; i++) {
		char *arg = args[i];
		int idx;
		const cli_option *o;
		if (only_positional || arg[0] != '-' || arg[1] == '\0') {
			args[out++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_positional = 1;
			continue;
		}
		if (arg[1] == '-') {
			const char *value;
			size_t len = long_name_len(arg + 2, &value);
			o = find_long(cmd, arg + 2, len, &idx);
			if (!o)
				return cli_usage(c, "unknown option '%.*s' for 'stk %s'", (int)len + 2, arg, cmd->words);
			if (o->arg && !value) {
				if (i + 1 >= n)
					return cli_usage(c, "option '--%s' needs %s", o->name, o->arg);
				value = args[++i];
			} else if (!o->arg && value) {
				return cli_usage(c, "option '--%s' takes no value", o->name);
			}
			c->optval[idx] = value;
			c->optcount[idx]++;
			continue;
		}
		/* "-x", "-xVALUE", "-x VALUE", or a bundle of flags "-ab". */
		for (const char *p = arg + 1; *p; p++) {
			o = find_short(cmd, *p, &idx);
			if (!o)
				return cli_usage(c, "unknown option '-%c' for 'stk %s'", *p, cmd->words);
			c->optcount[idx]++;
			if (!o->arg)
				continue;
			if (p[1]) {
				c->optval[idx] = p + 1;
			} else {
				if (i + 1 >= n)
					return cli_usage(c, "option '-%c' needs %s", *p, o->arg);
				c->optval[idx] = args[++i];
			}
			break;
		}
	}
	*npos = out;
	args[out] = NULL;
	if (out < cmd->min_args)
		return cli_usage(c, "'stk %s' needs %s", cmd->words, cmd->args ? cmd->args : "more arguments");
	if (cmd->max_args >= 0 && out > cmd->max_args)
		return cli_usage(c, "unexpected argument '%s'", args[cmd->max_args]);
	return 0;
}

/* ---- command matching ---- */

/* How many of the leading words of args match the command's words; -1 unless all of them do. */
static int match_words(const cli_command *cmd, char **args, int n, int *prefix)
{
	const char *p = cmd->words;
	int k = 0;
	*prefix = 0;
	while (*p) {
		const char *sp = strchr(p, ' ');
		size_t len = sp ? (size_t)(sp - p) : strlen(p);
		if (k >= n || args[k][0] == '-' || strlen(args[k]) != len || strncmp(args[k], p, len) != 0)
			return -1;
		*prefix = ++k;
		p += len + (sp != NULL);
	}
	return k;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), d[32][32];
	if (la > 30 || lb > 30)
		return 99;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

/* Copies the first `nwords` space-separated words of `words` into out. */
static void first_words(char *out, size_t out_len, const char *words, int nwords)
{
	const char *p = words;
	for (int k = 0; k < nwords && p; k++) {
		p = strchr(p, ' ');
		if (p && k + 1 < nwords)
			p++;
	}
	snprintf(out, out_len, "%.*s", p ? (int)(p - words) : (int)strlen(words), words);
}

/* Reports an unknown command. rest[0..group_words) are words that begin some command (a group such as
 * "config"); rest[group_words], if any, is the word that matched nothing. */
static int unknown_command(char **rest, int n, int group_words, int help)
{
	char given[256] = "";
	size_t len = 0;
	int ngiven = group_words < n && rest[group_words][0] != '-' ? group_words + 1 : group_words;
	for (int k = 0; k < ngiven && len < sizeof given; k++)
		len += (size_t)snprintf(given + len, sizeof given - len, "%s%s", k ? " " : "", rest[k]);
	if (ngiven == 0)
		return cli_usage(NULL, "unknown option '%s'", rest[0]);
	if (ngiven == group_words) {
		/* "stk config": a group alone. */
		if (help) {
			print_group_help(stdout, rest, group_words);
			return CLI_EXIT_OK;
		}
		cli_errorf("'%s' needs a command (see stk %s --help)", given, given);
		return CLI_EXIT_USAGE;
	}
	char best[128] = "";
	size_t bestd = 3;
	for (const cli_command *cmd = cli_commands; cmd->words; cmd++) {
		char head[128];
		first_words(head, sizeof head, cmd->words, ngiven);
		size_t dist = edit_distance(given, head);
		if (dist < bestd) {
			bestd = dist;
			snprintf(best, sizeof best, "%s", head);
		}
	}
	if (best[0])
		return cli_usage(NULL, "unknown command '%s'; did you mean '%s'?", given, best);
	return cli_usage(NULL, "unknown command '%s'", given);
}

int main(int argc, char **argv)
{
	cli c;
	globals g = { 0, 0, 0 };
	memset(&c, 0, sizeof c);
	char **rest = calloc((size_t)argc + 1, sizeof *rest);
	int n = 0, rc;
	if (!rest) {
		cli_errorf("out of memory");
		return CLI_EXIT_FAILURE;
	}

	/* Pass 1: global options, anywhere before "--". */
	int after_dashdash = 0;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (after_dashdash || arg[0] != '-' || arg[1] == '\0') {
			rest[n++] = argv[i];
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			after_dashdash = 1;
			rest[n++] = argv[i];
			continue;
		}
		rc = parse_global(&c, &g, argc, argv, &i);
		if (rc < 0) {
			free(rest);
			return -rc;
		}
		if (rc == 0)
			rest[n++] = argv[i];
	}
	if (!g.config_given) {
		const char *env = getenv("STKDR_CONFIG");
		c.config_path = env && *env ? env : NULL;
	}
	c.log_level = c.quiet ? STKDR_LOG_ERROR
		: c.verbose == 0 ? STKDR_LOG_WARN
		: c.verbose == 1 ? STKDR_LOG_INFO
		: c.verbose == 2 ? STKDR_LOG_DEBUG
				 : STKDR_LOG_TRACE;

	if (g.version) {
		free(rest);
		return print_version(&c);
	}
	if (n == 0) {
		free(rest);
		print_help(g.help ? stdout : stderr);
		return g.help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}

	/* Pass 2: the command words (the longest match), then the command's options. */
	int nwords = 0, group = 0;
	for (const cli_command *cmd = cli_commands; cmd->words; cmd++) {
		int prefix;
		int k = match_words(cmd, rest, n, &prefix);
		if (k > nwords) {
			nwords = k;
			c.cmd = cmd;
		}
		if (prefix > group)
			group = prefix;
	}
	if (!c.cmd) {
		rc = unknown_command(rest, n, group, g.help);
		free(rest);
		return rc;
	}
	if (g.help) {
		cli_print_command_help(c.cmd, 0);
		free(rest);
		return CLI_EXIT_OK;
	}
	int npos = 0;
	rc = parse_command_options(&c, rest + nwords, n - nwords, &npos);
	if (rc == 0)
		rc = c.cmd->run(&c, npos, rest + nwords);
	cli_progress_finish(&c);
	stkdr_ctx_free(c.ctx);
	free(rest);
	if (fflush(stdout) != 0 && rc == 0) {
		cli_errorf("cannot write the output");
		rc = CLI_EXIT_FAILURE;
	}
	return rc;
}
