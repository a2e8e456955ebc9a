/**
 * @file stkdr/common.h
 * @brief Export, calling-convention and declaration macros shared by every public header.
 * @defgroup stkdr_common Common macros
 * @{
 */
#ifndef STKDR_COMMON_H
#define STKDR_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define STKDR_BEGIN_DECL extern "C" {
#define STKDR_END_DECL }
#else
#define STKDR_BEGIN_DECL
#define STKDR_END_DECL
#endif

/** Marks a public symbol. Define STKDR_STATIC when linking the static library. */
#ifndef STKDR_API
#if defined(STKDR_STATIC)
#define STKDR_API
#elif defined(_WIN32) || defined(__CYGWIN__)
#if defined(STKDR_BUILDING)
#define STKDR_API __declspec(dllexport)
#else
#define STKDR_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#define STKDR_API __attribute__((visibility("default")))
#else
#define STKDR_API
#endif
#endif

/** Declares a callback pointer with a pinned calling convention: `int STKDR_CALLBACK(fn)(void *payload)`. */
#if defined(_MSC_VER)
#define STKDR_CALLBACK(name) (__cdecl *name)
#else
#define STKDR_CALLBACK(name) (*name)
#endif

/** Major version: bumped only with the SONAME, i.e. never for an ABI-compatible change. */
#define STKDR_VERSION_MAJOR 1
/** Minor version: new API (appended symbols, struct versions). */
#define STKDR_VERSION_MINOR 0
/** Patch version: fixes only. */
#define STKDR_VERSION_PATCH 0
/** Version as one number, MAJOR*10000 + MINOR*100 + PATCH. */
#define STKDR_VERSION_NUMBER (STKDR_VERSION_MAJOR * 10000 + STKDR_VERSION_MINOR * 100 + STKDR_VERSION_PATCH)
/** Version as a string. */
#define STKDR_VERSION_STRING "1.0.0"

#endif
/** @} */
