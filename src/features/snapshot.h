/* Snapshot internals shared with restore, verify and WAL. Internal. */
#ifndef STKDR_FEATURES_SNAPSHOT_H
#define STKDR_FEATURES_SNAPSHOT_H

#include "core/internal.h"
#include "stkdr/snapshot.h"

#include <cjson/cJSON.h>

#define STKDR__SNAP_FORMAT "stkdr-snapshot"
#define STKDR__SNAP_FORMAT_VERSION 2 /* 1: 16 MiB parts; 2: 1 MiB chunks with page-header digests */

/* Loads and checks a committed snapshot's manifest ("latest" resolves to the newest). On success
 * *out is a cJSON document (cJSON_Delete it) and, if id_out is non-NULL, the resolved id is copied
 * there (at least 64 bytes). ENOTFOUND names the id; ECORRUPT/EVERSION for a bad manifest. */
int stkdr__snapshot_load(cJSON **out, char *id_out, stkdr_ctx *ctx, const char *id);
/* Ids of committed snapshots, oldest first (NULL-terminated; stkdr__strv_free). */
int stkdr__snapshot_ids(char ***out, size_t *n_out, stkdr_ctx *ctx);
/* Kind names: "manual", "hourly", "daily", "monthly". */
const char *stkdr__snapshot_kind_name(int kind);
int stkdr__snapshot_kind_parse(int *out, const char *name);
/* LSN text "X/Y" <-> integer. */
int stkdr__lsn_parse(uint64_t *out, const char *s);
void stkdr__lsn_format(char *out, size_t out_len, uint64_t lsn);
/* WAL segment name for (timeline, segment number) with the given segment size. */
void stkdr__wal_segname(char *out, size_t out_len, uint32_t tli, uint64_t segno, int64_t seg_size);

#endif
