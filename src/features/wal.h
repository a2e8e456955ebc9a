/* The WAL archive: push, find, get (docs/formats.md "Archived WAL"). Internal. */
#ifndef STKDR_FEATURES_WAL_H
#define STKDR_FEATURES_WAL_H

#include "core/internal.h"

/* Classifies a WAL file name: 1 segment, 2 timeline history, 3 backup history, 4 partial; 0 not WAL. */
int stkdr__wal_name_kind(const char *name);
/* Archives the WAL file at `path` under its base name: compressed, checksummed, create-only.
 * Pushing the same content again succeeds (*already_out = 1); different content under the same name
 * fails with STKDR_EEXISTS and changes nothing. */
int stkdr__wal_push_file(stkdr_ctx *ctx, const char *path, int *already_out);
/* The same from memory, under `name`. Partial segments ("<seg>.partial") may be pushed again with
 * more data: every upload is kept, the newest wins. */
int stkdr__wal_push_mem(stkdr_ctx *ctx, const char *name, const uint8_t *data, size_t size, int *already_out);
/* The repository key of an archived WAL file (a segment missing complete falls back to its newest
 * partial upload); ENOTFOUND; ECORRUPT if two different copies exist. */
int stkdr__wal_find(stkdr_buf *key_out, stkdr_ctx *ctx, const char *name);
/* Restores an archived WAL file to `dest` atomically (temp + fsync + rename), verifying its hash. */
int stkdr__wal_get(stkdr_ctx *ctx, const char *name, const char *dest);

/* Reads every archived object in `keys` whole, in parallel (snapshot.parallel), so that the object store
 * checks each against its stored checksum (local sidecar SHA-256, S3 checksums); the first failure is
 * returned with its segment and key named. Emits "restore.wal_check" progress (objects). */
int stkdr__wal_verify_objects(stkdr_ctx *ctx, const char *const *keys, size_t n);
/* Removes <data_dir>/pg_wal/stkdr-prefetch (segments fetched ahead that recovery did not need). A
 * prefetcher still running then fails its next write and exits. */
void stkdr__wal_spool_remove(const char *data_dir);

#endif
