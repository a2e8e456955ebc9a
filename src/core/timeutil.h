/* Time: RFC 3339, dates, durations. All times are Unix milliseconds, UTC. Internal. */
#ifndef STKDR_CORE_TIMEUTIL_H
#define STKDR_CORE_TIMEUTIL_H

#include "internal.h"

/* Wall clock (CLOCK_REALTIME) and monotonic clock, in ms. */
int64_t stkdr__time_now_ms(void);
int64_t stkdr__time_mono_ms(void);

/* Parses RFC 3339 ("2026-02-10T14:25:00Z", "2026-02-10T14:25:00.123+02:00", also a space instead of
 * 'T' and lowercase 't'/'z'). Validates ranges (month 1-12, day within month incl. leap years, 60s leap
 * second accepted as 59). EINVAL with a message quoting the input and the expected form. */
int stkdr__time_parse_rfc3339(int64_t *out_ms, const char *s);
/* "2026-02-10T14:25:00Z", or with ".123" when ms != 0. out: at least 32 bytes. */
void stkdr__time_format_rfc3339(char *out, size_t out_len, int64_t ms);
/* "YYYY-MM-DD" -> midnight UTC of that day. */
int stkdr__time_parse_date(int64_t *out_ms, const char *s);
void stkdr__time_format_date(char *out, size_t out_len, int64_t ms);
/* Durations: "500ms", "30s", "15m", "24h", "7d", "2w", combined "1h30m"; a bare number is seconds.
 * Negative, empty, overflowing or unknown units: EINVAL quoting the input. */
int stkdr__time_parse_duration(int64_t *out_ms, const char *s);
/* Shortest exact form: "7d", "1h30m", "250ms", "0s". */
void stkdr__time_format_duration(char *out, size_t out_len, int64_t ms);
/* Civil <-> days since epoch (proleptic Gregorian). */
int64_t stkdr__time_days_from_civil(int y, int m, int d);
void stkdr__time_civil_from_days(int64_t days, int *y, int *m, int *d);

#endif
