/* CRC-32C and PostgreSQL's page checksum (from src/include/storage/checksum_impl.h). */
#include "checksum.h"

#include <pthread.h>
#include <string.h>

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;
	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}
#endif

static uint32_t crc_sw(uint32_t c, const uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint32_t lo = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		lo ^= c;
		c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^
			crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^
			crc_table[0][p[7]];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
	return c;
}

uint32_t stkdr__crc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t c = ~crc;
#if defined(__x86_64__) && defined(__GNUC__)
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc_hw(c, p, len);
#endif
	pthread_once(&crc_once, crc_init);
	return ~crc_sw(c, p, len);
}

static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
	uint32_t sum = 0;
	while (vec) {
		if (vec & 1)
			sum ^= *mat;
		vec >>= 1;
		mat++;
	}
	return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat)
{
	for (int n = 0; n < 32; n++)
		square[n] = gf2_times(mat, mat[n]);
}

uint32_t stkdr__crc32c_combine(uint32_t crc1, uint32_t crc2, int64_t len2)
{
	uint32_t even[32], odd[32];
	if (len2 <= 0)
		return crc1;
	odd[0] = 0x82F63B78u;
	uint32_t row = 1;
	for (int n = 1; n < 32; n++) {
		odd[n] = row;
		row <<= 1;
	}
	gf2_square(even, odd);
	gf2_square(odd, even);
	do {
		gf2_square(even, odd);
		if (len2 & 1)
			crc1 = gf2_times(even, crc1);
		len2 >>= 1;
		if (len2 == 0)
			break;
		gf2_square(odd, even);
		if (len2 & 1)
			crc1 = gf2_times(odd, crc1);
		len2 >>= 1;
	} while (len2 != 0);
	return crc1 ^ crc2;
}

/* ---- PostgreSQL page checksums ---- */

#define N_SUMS 32
#define FNV_PRIME 16777619u

static const uint32_t base_offsets[N_SUMS] = { 0x5B1F36E9, 0xB8525960, 0x02AB50AA, 0x1DE66D2A, 0x79FF467A,
	0x9BB9F8A3, 0x217E7CD2, 0x83E13D2C, 0xF8D4474F, 0xE39EB970, 0x42C6AE16, 0x993216FA, 0x7B093B5D, 0x98DAFF3C,
	0xF718902A, 0x0B1C9CDB, 0xE58F764B, 0x187636BC, 0x5D7B3BB1, 0xE73DE7DE, 0x92BEC979, 0xCCA6C0B2, 0x304A0979,
	0x85AA43D4, 0x783125BB, 0x6CA8EAA2, 0xE407EAC6, 0x4B5CFC3E, 0x9FBF8C76, 0x15CA20BE, 0xF2CA9FD3, 0x959BD756 };

#define COMP(sum, value)                                   \
	do {                                               \
		uint32_t tmp_ = (sum) ^ (value);           \
		(sum) = tmp_ * FNV_PRIME ^ (tmp_ >> 17);   \
	} while (0)

uint16_t stkdr__pg_page_checksum(const uint8_t *page, uint32_t blkno)
{
	uint32_t sums[N_SUMS];
	uint32_t words[STKDR__PG_BLCKSZ / 4];
	memcpy(words, page, sizeof words);
	/* pd_checksum (bytes 8..9) counts as zero */
	words[2] &= 0xffff0000u;
	memcpy(sums, base_offsets, sizeof sums);
	for (uint32_t i = 0; i < STKDR__PG_BLCKSZ / (4 * N_SUMS); i++)
		for (uint32_t j = 0; j < N_SUMS; j++)
			COMP(sums[j], words[i * N_SUMS + j]);
	for (int i = 0; i < 2; i++)
		for (uint32_t j = 0; j < N_SUMS; j++)
			COMP(sums[j], 0);
	uint32_t result = 0;
	for (uint32_t j = 0; j < N_SUMS; j++)
		result ^= sums[j];
	result ^= blkno;
	return (uint16_t)((result % 65535) + 1);
}

uint64_t stkdr__pg_page_lsn(const uint8_t *page)
{
	uint32_t hi, lo;
	memcpy(&hi, page, 4);
	memcpy(&lo, page + 4, 4);
	return (uint64_t)hi << 32 | lo;
}

uint16_t stkdr__pg_page_stored_checksum(const uint8_t *page)
{
	uint16_t c;
	memcpy(&c, page + 8, 2);
	return c;
}

int stkdr__pg_page_is_new(const uint8_t *page)
{
	uint16_t upper;
	memcpy(&upper, page + 14, 2);
	return upper == 0;
}

static int digits(const char **p)
{
	const char *s = *p;
	if (*s < '0' || *s > '9')
		return 0;
	while (**p >= '0' && **p <= '9')
		(*p)++;
	return 1;
}

int stkdr__pg_is_checksummed(const char *path, uint32_t *segno_out)
{
	const char *name = strrchr(path, '/');
	name = name ? name + 1 : path;
	if (strncmp(path, "base/", 5) && strncmp(path, "global/", 7) && strncmp(path, "pg_tblspc/", 10))
		return 0;
	const char *p = name;
	if (!digits(&p))
		return 0;
	if (!strncmp(p, "_fsm", 4))
		p += 4;
	else if (!strncmp(p, "_vm", 3))
		p += 3;
	else if (!strncmp(p, "_init", 5))
		p += 5;
	uint32_t seg = 0;
	if (*p == '.') {
		p++;
		const char *start = p;
		if (!digits(&p))
			return 0;
		for (const char *q = start; q < p; q++)
			seg = seg * 10 + (uint32_t)(*q - '0');
	}
	if (*p)
		return 0;
	if (segno_out)
		*segno_out = seg;
	return 1;
}
