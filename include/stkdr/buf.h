/**
 * @file stkdr/buf.h
 * @brief Library-owned output buffers.
 * @defgroup stkdr_buf Buffers
 *
 * Owned outputs (strings, documents, secret values) are returned in a ::stkdr_buf that the caller
 * initialises with ::STKDR_BUF_INIT and releases with stkdr_buf_dispose(). The library never returns
 * memory the caller must free() itself.
 * @{
 */
#ifndef STKDR_BUF_H
#define STKDR_BUF_H

#include "common.h"

STKDR_BEGIN_DECL

/** A growable byte buffer. `ptr` is always NUL-terminated when non-NULL (the NUL is not counted in `size`). Since: 1.0. */
typedef struct stkdr_buf {
	char *ptr;       /**< Data, or NULL when empty and unallocated. */
	size_t reserved; /**< Bytes allocated (0 when `ptr` is borrowed or NULL). */
	size_t size;     /**< Bytes of data, not counting the trailing NUL. */
} stkdr_buf;

/** Static initialiser for a ::stkdr_buf. */
#define STKDR_BUF_INIT { NULL, 0, 0 }

/**
 * Releases the buffer's memory, wiping it first (buffers may hold secrets), and resets it to empty.
 * NULL or an empty buffer is a no-op. Thread-safety: one thread per buffer. Since: 1.0.
 */
STKDR_API void stkdr_buf_dispose(stkdr_buf *buf);

/**
 * Replaces the buffer's content with a copy of `len` bytes of `data`.
 * @return 0, or ::STKDR_ENOMEM. Since: 1.0.
 */
STKDR_API int stkdr_buf_set(stkdr_buf *buf, const void *data, size_t len);

/**
 * Appends `len` bytes of `data`.
 * @return 0, or ::STKDR_ENOMEM. Since: 1.0.
 */
STKDR_API int stkdr_buf_put(stkdr_buf *buf, const void *data, size_t len);

/**
 * Makes room for at least `size` bytes of data plus the NUL, keeping the content.
 * @return 0, or ::STKDR_ENOMEM. Since: 1.0.
 */
STKDR_API int stkdr_buf_grow(stkdr_buf *buf, size_t size);

STKDR_END_DECL

#endif
/** @} */
