/* Global state: the allocator, reference-counted init of libcurl and cJSON, version queries. */
#include "internal.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <mbedtls/platform_util.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_refs;
static stkdr_allocator g_alloc; /* version 0: use libc */

void *stkdr__malloc(size_t size)
{
	if (size == 0)
		size = 1;
	return g_alloc.version ? g_alloc.malloc_fn(size, g_alloc.ud) : malloc(size);
}

void *stkdr__calloc(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	void *p = stkdr__malloc(n * size);
	if (p)
		memset(p, 0, (n * size) != 0 ? n * size : 1);
	return p;
}

void *stkdr__realloc(void *ptr, size_t size)
{
	if (size == 0)
		size = 1;
	return g_alloc.version ? g_alloc.realloc_fn(ptr, size, g_alloc.ud) : realloc(ptr, size);
}

void stkdr__free(void *ptr)
{
	if (!ptr)
		return;
	if (g_alloc.version)
		g_alloc.free_fn(ptr, g_alloc.ud);
	else
		free(ptr);
}

char *stkdr__strndup(const char *s, size_t n)
{
	if (!s)
		return NULL;
	size_t len = strnlen(s, n);
	char *p = stkdr__malloc(len + 1);
	if (!p)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *stkdr__strdup(const char *s)
{
	return s ? stkdr__strndup(s, strlen(s)) : NULL;
}

char *stkdr__aprintf(const char *fmt, ...)
{
	va_list ap, cp;
	va_start(ap, fmt);
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	char *p = n < 0 ? NULL : stkdr__malloc((size_t)n + 1);
	if (p)
		vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void stkdr__wipe(void *ptr, size_t len)
{
	if (ptr && len)
		mbedtls_platform_zeroize(ptr, len);
}

void *stkdr_backend_data_alloc(size_t size)
{
	return stkdr__calloc(1, size);
}

void stkdr_backend_data_free(void *ptr)
{
	stkdr__free(ptr);
}

static void *cjson_malloc(size_t sz)
{
	return stkdr__malloc(sz);
}

int stkdr_global_options_init(stkdr_global_options *opts, unsigned int version)
{
	return stkdr__options_init(opts, sizeof *opts, version, STKDR_GLOBAL_OPTIONS_VERSION, "stkdr_global_options");
}

int stkdr_global_init(const stkdr_global_options *opts)
{
	if (opts && (opts->version == 0 || opts->version > STKDR_GLOBAL_OPTIONS_VERSION))
		return stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_INTERNAL, NULL,
			"stkdr_global_options version %u is not supported (1..%u)", opts->version,
			STKDR_GLOBAL_OPTIONS_VERSION);
	const stkdr_allocator *a = opts ? opts->allocator : NULL;
	if (a && (a->version == 0 || a->version > STKDR_ALLOCATOR_VERSION))
		return stkdr__seterr(STKDR_EVERSION, STKDR_ERRCLASS_INTERNAL, NULL,
			"stkdr_allocator version %u is not supported", a->version);
	if (a && (!a->malloc_fn || !a->realloc_fn || !a->free_fn))
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"stkdr_allocator needs malloc_fn, realloc_fn and free_fn");
	pthread_mutex_lock(&g_lock);
	if (g_refs == 0) {
		if (a)
			g_alloc = *a;
#ifndef STKDR_LAZY_DEPS
		/* With lazy dependencies (core/lazydeps.h) libcurl is initialised when it is first opened. */
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			memset(&g_alloc, 0, sizeof g_alloc);
			pthread_mutex_unlock(&g_lock);
			return stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_NET, NULL, "libcurl global initialisation failed");
		}
#endif
		cJSON_Hooks hooks = { cjson_malloc, stkdr__free };
		cJSON_InitHooks(&hooks);
	} else if (a) {
		pthread_mutex_unlock(&g_lock);
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_INTERNAL, NULL,
			"an allocator can only be installed by the first stkdr_global_init(), before any handle exists");
	}
	int refs = ++g_refs;
	pthread_mutex_unlock(&g_lock);
	return refs;
}

int stkdr_global_shutdown(void)
{
	pthread_mutex_lock(&g_lock);
	if (g_refs == 0) {
		pthread_mutex_unlock(&g_lock);
		return stkdr__seterr(STKDR_ERROR, STKDR_ERRCLASS_INTERNAL, NULL, "stkdr_global_shutdown without init");
	}
	int refs = --g_refs;
	if (refs == 0) {
#ifndef STKDR_LAZY_DEPS
		curl_global_cleanup();
#endif
		/* Lazily opened libcurl stays initialised until the process ends: it is opened once, and
		 * libcurl (7.84+) needs no cleanup call for correctness. */
		cJSON_InitHooks(NULL);
		memset(&g_alloc, 0, sizeof g_alloc);
	}
	pthread_mutex_unlock(&g_lock);
	return refs;
}

const char *stkdr_version(void)
{
	return STKDR_VERSION_STRING;
}

int stkdr_version_number(void)
{
	return STKDR_VERSION_NUMBER;
}

int stkdr_has_feature(const char *name)
{
	if (!name)
		return 0;
#ifdef STKDR_HAVE_ZSTD
	if (strcmp(name, "zstd") == 0)
		return 1;
#endif
	if (strcmp(name, "postgres") == 0 || strcmp(name, "local") == 0)
		return 1;
#ifdef STKDR_HAVE_S3
	if (strcmp(name, "s3") == 0)
		return 1;
#endif
	return 0;
}
