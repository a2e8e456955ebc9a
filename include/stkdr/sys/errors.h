/**
 * @file stkdr/sys/errors.h
 * @brief Error setters for backend implementers.
 * @defgroup stkdr_sys_errors Backend errors
 * @{
 */
#ifndef STKDR_SYS_ERRORS_H
#define STKDR_SYS_ERRORS_H

#include "../common.h"

STKDR_BEGIN_DECL

/**
 * Records error detail for the current thread; the core moves it to the context's last error when the
 * backend method returns failure. Never put secrets in `message`.
 * @param code a ::stkdr_error_code (negative).
 * @param klass a ::stkdr_error_class.
 * @param backend_code provider code, or NULL. Copied.
 * @param message text, or NULL for the code's generic text. Copied.
 * Thread-safety: thread-local. Since: 1.0.
 */
STKDR_API void stkdr_error_set_str(int code, int klass, const char *backend_code, const char *message);

STKDR_END_DECL

#endif
/** @} */
