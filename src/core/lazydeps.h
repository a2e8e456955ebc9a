/*
 * Lazily loaded dependencies: libpq, libcurl and libxml2 are opened with dlopen() the first time the
 * library calls one of their functions, not by the dynamic loader at program start. Mapping the three
 * and their dependency trees (OpenSSL, Kerberos, LDAP, nghttp2, ICU...) costs about 8 ms of CPU per
 * process here, which is most of the cost of `stk wal push`, run by PostgreSQL once per WAL segment
 * and never touching any of them (docs/performance.md, "Process start-up").
 *
 * Every library source file is compiled with `-include core/lazydeps.h` (src/meson.build, option
 * lazy_deps): this header includes the three APIs' headers first, then turns each function the library
 * uses into a call through a table, e.g. `PQexec(...)` into `(stkdr__pq()->PQexec)(...)`. Source files
 * keep calling the documented names. A function used anywhere in src/ must be listed below; a missing
 * one fails to link (the library no longer links the dependency itself), never silently.
 *
 * The getters open the library once (thread-safe) and never return NULL: if it cannot be opened (a
 * broken installation; the same condition in which the dynamic loader would refuse to start a program
 * linked to it) they print one line naming the library and abort. Internal.
 */
#ifndef STKDR_CORE_LAZYDEPS_H
#define STKDR_CORE_LAZYDEPS_H

#ifdef STKDR_LAZY_DEPS

#include <libpq-fe.h>
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#ifdef STKDR_HAVE_S3
#include <libxml/parser.h>
#include <libxml/tree.h>
#endif

/* X(return type, name, parameter list) for every function of each dependency the library calls. */
#define STKDR__PQ_FUNCS(X) \
	X(void, PQclear, (PGresult *)) \
	X(char *, PQcmdTuples, (PGresult *)) \
	X(int, PQcancel, (PGcancel *, char *, int)) \
	X(PQconninfoOption *, PQconndefaults, (void)) \
	X(PGconn *, PQconnectdbParams, (const char *const *, const char *const *, int)) \
	X(int, PQconnectionNeedsPassword, (const PGconn *)) \
	X(void, PQconninfoFree, (PQconninfoOption *)) \
	X(PQconninfoOption *, PQconninfoParse, (const char *, char **)) \
	X(int, PQconsumeInput, (PGconn *)) \
	X(char *, PQdb, (const PGconn *)) \
	X(char *, PQerrorMessage, (const PGconn *)) \
	X(PGresult *, PQexec, (PGconn *, const char *)) \
	X(PGresult *, PQexecParams, (PGconn *, const char *, int, const Oid *, const char *const *, const int *, \
		const int *, int)) \
	X(void, PQfinish, (PGconn *)) \
	X(int, PQflush, (PGconn *)) \
	X(void, PQfreeCancel, (PGcancel *)) \
	X(void, PQfreemem, (void *)) \
	X(PGcancel *, PQgetCancel, (PGconn *)) \
	X(int, PQgetCopyData, (PGconn *, char **, int)) \
	X(PGresult *, PQgetResult, (PGconn *)) \
	X(int, PQgetisnull, (const PGresult *, int, int)) \
	X(int, PQgetlength, (const PGresult *, int, int)) \
	X(char *, PQgetvalue, (const PGresult *, int, int)) \
	X(char *, PQhost, (const PGconn *)) \
	X(int, PQnfields, (const PGresult *)) \
	X(int, PQntuples, (const PGresult *)) \
	X(char *, PQport, (const PGconn *)) \
	X(int, PQputCopyData, (PGconn *, const char *, int)) \
	X(int, PQputCopyEnd, (PGconn *, const char *)) \
	X(char *, PQresStatus, (ExecStatusType)) \
	X(char *, PQresultErrorField, (const PGresult *, int)) \
	X(char *, PQresultErrorMessage, (const PGresult *)) \
	X(ExecStatusType, PQresultStatus, (const PGresult *)) \
	X(int, PQserverVersion, (const PGconn *)) \
	X(PQnoticeProcessor, PQsetNoticeProcessor, (PGconn *, PQnoticeProcessor, void *)) \
	X(int, PQsocket, (const PGconn *)) \
	X(ConnStatusType, PQstatus, (const PGconn *)) \
	X(char *, PQuser, (const PGconn *))

#define STKDR__CURL_FUNCS(X) \
	X(void, curl_easy_cleanup, (CURL *)) \
	X(CURLcode, curl_easy_getinfo, (CURL *, CURLINFO, ...)) \
	X(CURL *, curl_easy_init, (void)) \
	X(CURLcode, curl_easy_perform, (CURL *)) \
	X(void, curl_easy_reset, (CURL *)) \
	X(CURLcode, curl_easy_setopt, (CURL *, CURLoption, ...)) \
	X(const char *, curl_easy_strerror, (CURLcode)) \
	X(CURLcode, curl_global_init, (long)) \
	X(void, curl_global_cleanup, (void)) \
	X(CURLSHcode, curl_share_cleanup, (CURLSH *)) \
	X(CURLSH *, curl_share_init, (void)) \
	X(CURLSHcode, curl_share_setopt, (CURLSH *, CURLSHoption, ...)) \
	X(struct curl_slist *, curl_slist_append, (struct curl_slist *, const char *)) \
	X(void, curl_slist_free_all, (struct curl_slist *))

#define STKDR__XML_FUNCS(X) \
	X(void, xmlDocDumpMemory, (xmlDocPtr, xmlChar **, int *)) \
	X(xmlNodePtr, xmlDocGetRootElement, (const xmlDoc *)) \
	X(xmlNodePtr, xmlDocSetRootElement, (xmlDocPtr, xmlNodePtr)) \
	X(void, xmlFreeDoc, (xmlDocPtr)) \
	X(void, xmlInitParser, (void)) \
	X(xmlNodePtr, xmlNewChild, (xmlNodePtr, xmlNsPtr, const xmlChar *, const xmlChar *)) \
	X(xmlDocPtr, xmlNewDoc, (const xmlChar *)) \
	X(xmlNodePtr, xmlNewNode, (xmlNsPtr, const xmlChar *)) \
	X(xmlAttrPtr, xmlNewProp, (xmlNodePtr, const xmlChar *, const xmlChar *)) \
	X(xmlNodePtr, xmlNewTextChild, (xmlNodePtr, xmlNsPtr, const xmlChar *, const xmlChar *)) \
	X(xmlChar *, xmlNodeGetContent, (const xmlNode *)) \
	X(xmlDocPtr, xmlReadMemory, (const char *, int, const char *, const char *, int))

#define STKDR__LAZY_MEMBER(ret, name, params) ret (*name) params;

typedef struct stkdr__pq_api {
	STKDR__PQ_FUNCS(STKDR__LAZY_MEMBER)
} stkdr__pq_api;
typedef struct stkdr__curl_api {
	STKDR__CURL_FUNCS(STKDR__LAZY_MEMBER)
} stkdr__curl_api;
const stkdr__pq_api *stkdr__pq(void);
/* Also runs curl_global_init() once, right after opening libcurl. */
const stkdr__curl_api *stkdr__curl(void);
/* Whether libcurl was opened (stkdr_global_cleanup() calls curl_global_cleanup() only then). */
int stkdr__curl_loaded(void);
#ifdef STKDR_HAVE_S3
typedef struct stkdr__xml_api {
	STKDR__XML_FUNCS(STKDR__LAZY_MEMBER)
	xmlFreeFunc *xmlFree; /* a variable in libxml2 (without LIBXML_THREAD_ALLOC_ENABLED): its address */
} stkdr__xml_api;
const stkdr__xml_api *stkdr__xml(void);
#endif

#define PQclear (stkdr__pq()->PQclear)
#define PQcmdTuples (stkdr__pq()->PQcmdTuples)
#define PQcancel (stkdr__pq()->PQcancel)
#define PQconndefaults (stkdr__pq()->PQconndefaults)
#define PQconnectdbParams (stkdr__pq()->PQconnectdbParams)
#define PQconnectionNeedsPassword (stkdr__pq()->PQconnectionNeedsPassword)
#define PQconninfoFree (stkdr__pq()->PQconninfoFree)
#define PQconninfoParse (stkdr__pq()->PQconninfoParse)
#define PQconsumeInput (stkdr__pq()->PQconsumeInput)
#define PQdb (stkdr__pq()->PQdb)
#define PQerrorMessage (stkdr__pq()->PQerrorMessage)
#define PQexec (stkdr__pq()->PQexec)
#define PQexecParams (stkdr__pq()->PQexecParams)
#define PQfinish (stkdr__pq()->PQfinish)
#define PQflush (stkdr__pq()->PQflush)
#define PQfreeCancel (stkdr__pq()->PQfreeCancel)
#define PQfreemem (stkdr__pq()->PQfreemem)
#define PQgetCancel (stkdr__pq()->PQgetCancel)
#define PQgetCopyData (stkdr__pq()->PQgetCopyData)
#define PQgetResult (stkdr__pq()->PQgetResult)
#define PQgetisnull (stkdr__pq()->PQgetisnull)
#define PQgetlength (stkdr__pq()->PQgetlength)
#define PQgetvalue (stkdr__pq()->PQgetvalue)
#define PQhost (stkdr__pq()->PQhost)
#define PQnfields (stkdr__pq()->PQnfields)
#define PQntuples (stkdr__pq()->PQntuples)
#define PQport (stkdr__pq()->PQport)
#define PQputCopyData (stkdr__pq()->PQputCopyData)
#define PQputCopyEnd (stkdr__pq()->PQputCopyEnd)
#define PQresStatus (stkdr__pq()->PQresStatus)
#define PQresultErrorField (stkdr__pq()->PQresultErrorField)
#define PQresultErrorMessage (stkdr__pq()->PQresultErrorMessage)
#define PQresultStatus (stkdr__pq()->PQresultStatus)
#define PQserverVersion (stkdr__pq()->PQserverVersion)
#define PQsetNoticeProcessor (stkdr__pq()->PQsetNoticeProcessor)
#define PQsocket (stkdr__pq()->PQsocket)
#define PQstatus (stkdr__pq()->PQstatus)
#define PQuser (stkdr__pq()->PQuser)

/* curl.h defines these two as function-like macros of themselves (its type checks are off above) */
#undef curl_easy_getinfo
#undef curl_easy_setopt
#undef curl_share_setopt /* (and this one) */
#define curl_easy_cleanup (stkdr__curl()->curl_easy_cleanup)
#define curl_easy_getinfo (stkdr__curl()->curl_easy_getinfo)
#define curl_easy_init (stkdr__curl()->curl_easy_init)
#define curl_easy_perform (stkdr__curl()->curl_easy_perform)
#define curl_easy_reset (stkdr__curl()->curl_easy_reset)
#define curl_easy_setopt (stkdr__curl()->curl_easy_setopt)
#define curl_easy_strerror (stkdr__curl()->curl_easy_strerror)
#define curl_global_init (stkdr__curl()->curl_global_init)
#define curl_global_cleanup (stkdr__curl()->curl_global_cleanup)
#define curl_share_cleanup (stkdr__curl()->curl_share_cleanup)
#define curl_share_init (stkdr__curl()->curl_share_init)
#define curl_share_setopt (stkdr__curl()->curl_share_setopt)
#define curl_slist_append (stkdr__curl()->curl_slist_append)
#define curl_slist_free_all (stkdr__curl()->curl_slist_free_all)

#ifdef STKDR_HAVE_S3
#define xmlDocDumpMemory (stkdr__xml()->xmlDocDumpMemory)
#define xmlDocGetRootElement (stkdr__xml()->xmlDocGetRootElement)
#define xmlDocSetRootElement (stkdr__xml()->xmlDocSetRootElement)
#define xmlFreeDoc (stkdr__xml()->xmlFreeDoc)
#define xmlInitParser (stkdr__xml()->xmlInitParser)
#define xmlNewChild (stkdr__xml()->xmlNewChild)
#define xmlNewDoc (stkdr__xml()->xmlNewDoc)
#define xmlNewNode (stkdr__xml()->xmlNewNode)
#define xmlNewProp (stkdr__xml()->xmlNewProp)
#define xmlNewTextChild (stkdr__xml()->xmlNewTextChild)
#define xmlNodeGetContent (stkdr__xml()->xmlNodeGetContent)
#define xmlReadMemory (stkdr__xml()->xmlReadMemory)
/* libxml2's xmlFree: a variable holding the deallocator (Debian's build), or a macro over __xmlFree()
 * when built with LIBXML_THREAD_ALLOC_ENABLED */
#ifdef LIBXML_THREAD_ALLOC_ENABLED
#error "libxml2 with LIBXML_THREAD_ALLOC_ENABLED: build with -Dlazy_deps=false"
#endif
#define xmlFree (*(stkdr__xml()->xmlFree))
#endif

#endif /* STKDR_LAZY_DEPS */
#endif
