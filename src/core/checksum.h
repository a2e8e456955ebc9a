/* Non-cryptographic checksums: CRC-32C (with combine) and PostgreSQL's data-page checksum. Internal. */
#ifndef STKDR_CORE_CHECKSUM_H
#define STKDR_CORE_CHECKSUM_H

#include "internal.h"

/* CRC-32C (Castagnoli), as PostgreSQL's backup manifest uses it. Start with crc = 0. */
uint32_t stkdr__crc32c(uint32_t crc, const void *data, size_t len);
/* CRC-32C of A||B from crc(A), crc(B) and len(B) (zlib's crc32_combine method). */
uint32_t stkdr__crc32c_combine(uint32_t crc_a, uint32_t crc_b, int64_t len_b);

/* PostgreSQL data pages. */
#define STKDR__PG_BLCKSZ 8192
#define STKDR__PG_RELSEG_BLOCKS 131072
/* pg_checksum_page(): the checksum the page should carry at block number `blkno` of its relation. */
uint16_t stkdr__pg_page_checksum(const uint8_t *page, uint32_t blkno);
/* Page header fields (little-endian hosts, as PostgreSQL writes them natively). */
uint64_t stkdr__pg_page_lsn(const uint8_t *page);
uint16_t stkdr__pg_page_stored_checksum(const uint8_t *page);
/* 1 if the page is new (pd_upper == 0): all-zero pages are valid and carry no checksum. */
int stkdr__pg_page_is_new(const uint8_t *page);
/* Whether a data-directory-relative path is a relation file whose pages carry checksums
 * (base/<db>/<relfilenode>[_fsm|_vm|_init][.<seg>], global/<relfilenode>..., pg_tblspc/...);
 * sets *segno_out to the segment number. */
int stkdr__pg_is_checksummed(const char *path, uint32_t *segno_out);

#endif
