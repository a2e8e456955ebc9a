/* The getters of core/lazydeps.h: dlopen() on first use. This file too is compiled with the header
 * force-included, so the function names are macros here: the tables are filled by position from the
 * names' strings (the `#` operator does not expand its operand). */
#include "core/lazydeps.h"

#ifdef STKDR_LAZY_DEPS
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STKDR__LAZY_NAME(ret, name, params) #name,

/* Opens `soname` and fills `n` slots of `table` (a struct of function pointers, which POSIX's dlsym()
 * lets us treat as object pointers) from `names`. A broken installation aborts with one line. */
static void load(const char *soname, const char *const *names, size_t n, void *table)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "libstkdr: cannot load %s (%s): reinstall it (Debian: see docs/abi.md, "
			"\"Run-time dependencies\")\n", soname, dlerror());
		abort();
	}
	void **slots = table;
	for (size_t i = 0; i < n; i++) {
		slots[i] = dlsym(h, names[i]);
		if (!slots[i]) {
			fprintf(stderr, "libstkdr: %s has no symbol %s: it is older than the version libstkdr was built "
				"against\n", soname, names[i]);
			abort();
		}
	}
}

static stkdr__pq_api pq_api;
static pthread_once_t pq_once = PTHREAD_ONCE_INIT;
static const char *const pq_names[] = { STKDR__PQ_FUNCS(STKDR__LAZY_NAME) };
static void pq_load(void)
{
	load(STKDR_LIBPQ_SONAME, pq_names, sizeof pq_names / sizeof pq_names[0], &pq_api);
}
const stkdr__pq_api *stkdr__pq(void)
{
	pthread_once(&pq_once, pq_load);
	return &pq_api;
}

static stkdr__curl_api curl_api;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ok;
static const char *const curl_names[] = { STKDR__CURL_FUNCS(STKDR__LAZY_NAME) };
static void curl_load(void)
{
	load(STKDR_LIBCURL_SONAME, curl_names, sizeof curl_names / sizeof curl_names[0], &curl_api);
	/* curl_global_init() before any other call, exactly once (it is not thread-safe in old libcurl) */
	CURLcode (*init)(long) = NULL;
	void **slots = (void **)&curl_api;
	for (size_t i = 0; i < sizeof curl_names / sizeof curl_names[0]; i++)
		if (!strcmp(curl_names[i], "curl_global_init"))
			memcpy(&init, &slots[i], sizeof init); /* (the member's name is a macro in this file) */
	if (!init || init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "libstkdr: libcurl's global initialisation failed\n");
		abort();
	}
	__atomic_store_n(&curl_ok, 1, __ATOMIC_RELEASE);
}
const stkdr__curl_api *stkdr__curl(void)
{
	pthread_once(&curl_once, curl_load);
	return &curl_api;
}
int stkdr__curl_loaded(void)
{
	return __atomic_load_n(&curl_ok, __ATOMIC_ACQUIRE);
}

#ifdef STKDR_HAVE_S3
static stkdr__xml_api xml_api;
static pthread_once_t xml_once = PTHREAD_ONCE_INIT;
static const char *const xml_names[] = { STKDR__XML_FUNCS(STKDR__LAZY_NAME) "xmlFree" };
static void xml_load(void)
{
	load(STKDR_LIBXML2_SONAME, xml_names, sizeof xml_names / sizeof xml_names[0], &xml_api);
}
const stkdr__xml_api *stkdr__xml(void)
{
	pthread_once(&xml_once, xml_load);
	return &xml_api;
}
#endif
#endif /* STKDR_LAZY_DEPS */
