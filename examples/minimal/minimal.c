/*
 * The smallest libstkdr program: create a context from JSON text, read a key back, print the library
 * version, free everything. Build it against an installed libstkdr with
 *
 *     cc minimal.c $(pkg-config --cflags --libs stkdr) -o minimal
 */
#include <stkdr/stkdr.h>

#include <stdio.h>

int main(void)
{
	static const char config[] = "{\n"
		"  \"deployment\": \"example\",\n"
		"  \"objstore\": { \"backend\": \"local\", \"path\": \"/tmp/stkdr-example/repo\" }\n"
		"}\n";
	stkdr_ctx_options opts = STKDR_CTX_OPTIONS_INIT;
	stkdr_ctx *ctx = NULL;
	stkdr_buf value = STKDR_BUF_INIT;

	opts.config_json = config;
	opts.flags = STKDR_CTX_NO_ENV; /* this example ignores STKDR_<SECTION>_<KEY> overrides */
	if (stkdr_ctx_new(&ctx, &opts) != 0) {
		/* Constructors leave their error on the thread. */
		fprintf(stderr, "minimal: %s\n", stkdr_error_last()->message);
		return 1;
	}
	if (stkdr_ctx_get_str(&value, ctx, "deployment") != 0) {
		/* Calls on a context leave their error on the context. */
		fprintf(stderr, "minimal: %s\n", stkdr_ctx_last_error(ctx)->message);
		stkdr_ctx_free(ctx);
		return 1;
	}
	printf("libstkdr %s (built against %s)\n", stkdr_version(), STKDR_VERSION_STRING);
	printf("deployment = %s\n", value.ptr);

	stkdr_buf_dispose(&value);
	stkdr_ctx_free(ctx);
	return 0;
}
