/*
 * stk: the command-line front end of libstkdr. This header is the program's own framework: the command
 * table, option parsing, exit codes, error and log output, --json helpers and progress display.
 *
 * stk is a consumer of the public API only: it includes <stkdr/stkdr.h> and links the shared library,
 * never anything from src/.
 *
 * Adding a command:
 *   1. write `int cmd_xxx(cli *c, int argc, char **argv)` (argv holds the positional arguments only;
 *      options are already parsed: read them with cli_opt() / cli_flag());
 *   2. declare it in commands.h;
 *   3. add a row to the table in commands.c: the command words, the function, the positional synopsis
 *      and counts, a one-line summary and its options (a NULL-terminated cli_option array).
 * The framework handles the global options, --help for the command, unknown options and argument
 * counts (exit 2), and frees the context after the command returns.
 */
#ifndef STK_CLI_H
#define STK_CLI_H

#include <stkdr/stkdr.h>

#include <cjson/cJSON.h>
#include <stdint.h>

#if defined(__GNUC__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
#endif

/* ---- exit codes (docs/cli.md) ---- */
enum {
	CLI_EXIT_OK = 0,         /* success */
	CLI_EXIT_FAILURE = 1,    /* any other failure */
	CLI_EXIT_USAGE = 2,      /* bad command line */
	CLI_EXIT_CONFIG = 3,     /* configuration invalid or unreadable */
	CLI_EXIT_NOTFOUND = 4,   /* snapshot, object, key... not found */
	CLI_EXIT_CORRUPT = 5,    /* verification failed, data corrupt */
	CLI_EXIT_AUTH = 6,       /* credentials or master key refused */
	CLI_EXIT_UNAVAILABLE = 7, /* backend or network unavailable */
	CLI_EXIT_TIMEOUT = 8,    /* a deadline passed */
	CLI_EXIT_LOCKED = 9,     /* locked (lease held) or immutable (under retention) */
	CLI_EXIT_PENDING = 10    /* pending: an archive-tier retrieval was started or is under way; re-run later */
};

/* Maps a library return code (and the error class, which refines STKDR_ERROR/STKDR_EINVAL) to an exit
 * code. The single place where this mapping lives. */
int cli_exit_code(int code, int klass);

/* ---- command table ---- */

#define CLI_MAX_OPTIONS 16

/* One command-specific option. */
typedef struct cli_option {
	const char *name;  /* long name without "--" ("label") */
	char short_name;   /* 'l', or 0 */
	const char *arg;   /* metavariable if it takes a value ("L"), NULL for a flag */
	const char *help;  /* one line */
} cli_option;

typedef struct cli cli;

typedef int (*cli_command_fn)(cli *c, int argc, char **argv);

/* One row of the command table. */
typedef struct cli_command {
	const char *words;          /* command words, space-separated ("config check") */
	cli_command_fn run;
	const char *args;           /* positional synopsis for usage ("ID"), or NULL */
	int min_args;               /* positional arguments required */
	int max_args;               /* positional arguments allowed; -1: any number */
	const char *summary;        /* one line, for `stk --help` */
	const cli_option *options;  /* NULL-terminated array, or NULL */
	const char *details;        /* extra paragraph for `stk <command> --help`, or NULL */
} cli_command;

/* The table (commands.c), terminated by a row with words == NULL. */
extern const cli_command cli_commands[];

/* ---- progress display ---- */
typedef struct cli_progress {
	int enabled;       /* stderr is a terminal and not --quiet */
	int shown;         /* a progress line is on screen */
	char name[96];     /* event name + subject of the line on screen */
	double start;      /* monotonic seconds when this operation's first event came */
	double last_draw;  /* monotonic seconds of the last redraw */
} cli_progress;

/* ---- the invocation ---- */
struct cli {
	const char *config_path;  /* --config, else $STKDR_CONFIG, else NULL */
	int json;                 /* --json */
	int verbose;              /* number of -v */
	int quiet;                /* -q */
	int log_level;            /* STKDR_LOG_* derived from -v/-q */
	const cli_command *cmd;   /* the command being run */
	const char *optval[CLI_MAX_OPTIONS]; /* last value of each of cmd->options (by index), or NULL */
	int optcount[CLI_MAX_OPTIONS];       /* how many times each option was given */
	stkdr_ctx *ctx;           /* opened by cli_open(); freed by the framework */
	cli_progress progress;
};

/* ---- options of the current command ---- */

/* The value of option `name` ("label"), or NULL if it was not given. */
const char *cli_opt(const cli *c, const char *name);
/* How many times option `name` was given (0 if not). */
int cli_flag(const cli *c, const char *name);

/* ---- context ---- */

/* Creates c->ctx from the configuration (--config / $STKDR_CONFIG, then the environment) and installs
 * the log and event callbacks. Returns 0, or an exit code (CLI_EXIT_CONFIG) after printing the reason. */
int cli_open(cli *c);
/* The configuration file's name for messages: the path, or "(environment)" when there is none. */
const char *cli_config_name(const cli *c);

/* ---- output ---- */

/* Prints "stk: <message>" on one line to stderr (newlines in the message become spaces). */
void cli_errorf(const char *fmt, ...) CLI_PRINTF(1, 2);
/* Prints the reason for a usage error, with a pointer to --help; returns CLI_EXIT_USAGE. */
int cli_usage(const cli *c, const char *fmt, ...) CLI_PRINTF(2, 3);
/* Reports the failure `rc` of a library call: prints stkdr_ctx_last_error(c->ctx) (or stkdr_error_last()
 * when there is no context) and returns the mapped exit code. */
int cli_fail(cli *c, int rc);
/* Prints an informational line to stdout unless --quiet or --json. */
void cli_info(const cli *c, const char *fmt, ...) CLI_PRINTF(2, 3);

/* Prints `doc` (indented, newline-terminated) to stdout and deletes it. Returns 0, or
 * CLI_EXIT_FAILURE if `doc` is NULL (out of memory) or cannot be printed. */
int cli_json_print(cJSON *doc);
/* Prints JSON text produced by the library (already formatted) to stdout, newline-terminated. */
int cli_json_print_text(const char *text);

/* ---- progress ---- */

/* Ends the progress line, if one is shown (called by the framework after each command). */
void cli_progress_finish(cli *c);
/* Formats a byte count as "12.3 MiB" into out. */
void cli_format_bytes(char *out, size_t out_len, int64_t bytes);
/* Formats a number of seconds as "1:02:03" or "2:03" into out. */
void cli_format_eta(char *out, size_t out_len, int64_t seconds);

/* ---- help ---- */
void cli_print_command_help(const cli_command *cmd, int to_stderr);

#endif
