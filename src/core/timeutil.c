/* Time: clocks, RFC 3339 timestamps, dates and durations in Unix milliseconds (UTC), locale-free. */
#include "timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define MS_PER_SEC INT64_C(1000)
#define MS_PER_MIN (60 * MS_PER_SEC)
#define MS_PER_HOUR (60 * MS_PER_MIN)
#define MS_PER_DAY (24 * MS_PER_HOUR)
#define MS_PER_WEEK (7 * MS_PER_DAY)

/* Longest input quoted in an error message. */
#define QUOTE_MAX 80

static int64_t clock_ms(clockid_t id)
{
	struct timespec ts;
	if (clock_gettime(id, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * MS_PER_SEC + ts.tv_nsec / 1000000;
}

int64_t stkdr__time_now_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

int64_t stkdr__time_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

/* ---- civil calendar (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms") ---- */

int64_t stkdr__time_days_from_civil(int y, int m, int d)
{
	int64_t yy = (int64_t)y - (m <= 2);
	int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
	int64_t yoe = yy - era * 400;                                    /* [0, 399] */
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;   /* [0, 365] */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;             /* [0, 146096] */
	return era * 146097 + doe - 719468;
}

void stkdr__time_civil_from_days(int64_t days, int *y, int *m, int *d)
{
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;                                          /* [0, 146096] */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;     /* [0, 399] */
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                   /* [0, 365] */
	int64_t mp = (5 * doy + 2) / 153;                                        /* [0, 11] */
	int64_t dd = doy - (153 * mp + 2) / 5 + 1;                               /* [1, 31] */
	int64_t mm = mp < 10 ? mp + 3 : mp - 9;                                  /* [1, 12] */
	*y = (int)(yoe + era * 400 + (mm <= 2));
	*m = (int)mm;
	*d = (int)dd;
}

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- parsing helpers ---- */

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Reads exactly n digits at *p. */
static int take_digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!is_digit((*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int time_bad(const char *kind, const char *s, const char *expected, const char *why)
{
	size_t n = strlen(s);
	return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_FORMAT, NULL, "%s \"%.*s%s\": %s (expected %s)", kind,
		QUOTE_MAX, s, n > QUOTE_MAX ? "..." : "", why, expected);
}

#define RFC3339_EXPECTED "RFC 3339, e.g. 2026-02-10T14:25:00Z or 2026-02-10T14:25:00.123+02:00"
#define DATE_EXPECTED "YYYY-MM-DD, e.g. 2026-02-10"

/* Parses "YYYY-MM-DD" at *p into days since the epoch; validates the ranges. */
static int parse_ymd(const char **p, int64_t *days, const char *kind, const char *s, const char *expected)
{
	int y, m, d;
	char why[96];
	if (take_digits(p, 4, &y) || **p != '-')
		return time_bad(kind, s, expected, "the date must start with a 4-digit year and '-'");
	(*p)++;
	if (take_digits(p, 2, &m) || **p != '-')
		return time_bad(kind, s, expected, "the month must be 2 digits followed by '-'");
	(*p)++;
	if (take_digits(p, 2, &d))
		return time_bad(kind, s, expected, "the day must be 2 digits");
	if (m < 1 || m > 12) {
		snprintf(why, sizeof why, "month %d is out of range (1-12)", m);
		return time_bad(kind, s, expected, why);
	}
	if (d < 1 || d > days_in_month(y, m)) {
		snprintf(why, sizeof why, "day %d is out of range for %04d-%02d (1-%d)", d, y, m, days_in_month(y, m));
		return time_bad(kind, s, expected, why);
	}
	*days = stkdr__time_days_from_civil(y, m, d);
	return 0;
}

int stkdr__time_parse_rfc3339(int64_t *out_ms, const char *s)
{
	static const char kind[] = "timestamp";
	const char *p = s;
	int64_t days;
	int hh, mi, ss, ms = 0;
	char why[96];

	if (!s)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_FORMAT, NULL, "timestamp: none given (expected %s)",
			RFC3339_EXPECTED);
	if (!*s)
		return time_bad(kind, s, RFC3339_EXPECTED, "empty");
	int rc = parse_ymd(&p, &days, kind, s, RFC3339_EXPECTED);
	if (rc)
		return rc;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return time_bad(kind, s, RFC3339_EXPECTED, *p ? "the date must be followed by 'T' and a time"
							  : "the time of day is missing");
	p++;
	if (take_digits(&p, 2, &hh) || *p++ != ':' || take_digits(&p, 2, &mi) || *p++ != ':' ||
		take_digits(&p, 2, &ss))
		return time_bad(kind, s, RFC3339_EXPECTED, "the time must be HH:MM:SS");
	if (hh > 23 || mi > 59 || ss > 60) {
		snprintf(why, sizeof why, "time %02d:%02d:%02d is out of range", hh, mi, ss);
		return time_bad(kind, s, RFC3339_EXPECTED, why);
	}
	if (ss == 60)
		ss = 59; /* leap second */
	if (*p == '.') {
		p++;
		if (!is_digit(*p))
			return time_bad(kind, s, RFC3339_EXPECTED, "'.' must be followed by fractional digits");
		/* Milliseconds: the first three digits, the rest truncated. */
		for (int i = 0; is_digit(*p); i++, p++)
			if (i < 3)
				ms += (*p - '0') * (i == 0 ? 100 : i == 1 ? 10 : 1);
	}
	int64_t off_min = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1;
		int oh, om;
		if (take_digits(&p, 2, &oh) || *p++ != ':' || take_digits(&p, 2, &om))
			return time_bad(kind, s, RFC3339_EXPECTED, "the offset must be +HH:MM or -HH:MM");
		if (oh > 23 || om > 59) {
			snprintf(why, sizeof why, "offset %02d:%02d is out of range", oh, om);
			return time_bad(kind, s, RFC3339_EXPECTED, why);
		}
		off_min = sign * (oh * 60 + om);
	} else {
		return time_bad(kind, s, RFC3339_EXPECTED,
			*p ? "unexpected character after the time" : "the time zone (Z or +HH:MM) is missing");
	}
	if (*p)
		return time_bad(kind, s, RFC3339_EXPECTED, "unexpected text after the time zone");
	*out_ms = days * MS_PER_DAY + hh * MS_PER_HOUR + mi * MS_PER_MIN + ss * MS_PER_SEC + ms -
		off_min * MS_PER_MIN;
	return 0;
}

void stkdr__time_format_rfc3339(char *out, size_t out_len, int64_t ms)
{
	int64_t days = floor_div(ms, MS_PER_DAY);
	int64_t rem = ms - days * MS_PER_DAY;
	int y, m, d;
	stkdr__time_civil_from_days(days, &y, &m, &d);
	int hh = (int)(rem / MS_PER_HOUR);
	int mi = (int)(rem / MS_PER_MIN % 60);
	int ss = (int)(rem / MS_PER_SEC % 60);
	int frac = (int)(rem % MS_PER_SEC);
	if (frac)
		snprintf(out, out_len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d, hh, mi, ss, frac);
	else
		snprintf(out, out_len, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, hh, mi, ss);
}

int stkdr__time_parse_date(int64_t *out_ms, const char *s)
{
	static const char kind[] = "date";
	if (!s)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_FORMAT, NULL, "date: none given (expected %s)",
			DATE_EXPECTED);
	if (!*s)
		return time_bad(kind, s, DATE_EXPECTED, "empty");
	const char *p = s;
	int64_t days;
	int rc = parse_ymd(&p, &days, kind, s, DATE_EXPECTED);
	if (rc)
		return rc;
	if (*p)
		return time_bad(kind, s, DATE_EXPECTED, "unexpected text after the day");
	*out_ms = days * MS_PER_DAY;
	return 0;
}

void stkdr__time_format_date(char *out, size_t out_len, int64_t ms)
{
	int y, m, d;
	stkdr__time_civil_from_days(floor_div(ms, MS_PER_DAY), &y, &m, &d);
	snprintf(out, out_len, "%04d-%02d-%02d", y, m, d);
}

/* ---- durations ---- */

#define DURATION_EXPECTED "a number with a unit ms, s, m, h, d or w, e.g. 30s, 15m, 24h, 7d, 1h30m"

static const struct {
	const char *unit;
	int64_t ms;
} dur_units[] = {
	{ "ms", 1 },
	{ "s", MS_PER_SEC },
	{ "m", MS_PER_MIN },
	{ "h", MS_PER_HOUR },
	{ "d", MS_PER_DAY },
	{ "w", MS_PER_WEEK },
};

static int is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int stkdr__time_parse_duration(int64_t *out_ms, const char *s)
{
	static const char kind[] = "duration";
	char why[96];
	if (!s)
		return stkdr__seterr(STKDR_EINVAL, STKDR_ERRCLASS_FORMAT, NULL, "duration: none given (expected %s)",
			DURATION_EXPECTED);
	if (!*s)
		return time_bad(kind, s, DURATION_EXPECTED, "empty");
	if (*s == '-')
		return time_bad(kind, s, DURATION_EXPECTED, "negative durations are not allowed");
	const char *p = s;
	int64_t total = 0;
	while (*p) {
		if (!is_digit(*p)) {
			if (is_alpha(*p)) {
				snprintf(why, sizeof why, "a number must come before the unit '%c'", *p);
				return time_bad(kind, s, DURATION_EXPECTED, why);
			}
			snprintf(why, sizeof why, "unexpected character '%c'", *p);
			return time_bad(kind, s, DURATION_EXPECTED, why);
		}
		int64_t n = 0;
		for (; is_digit(*p); p++) {
			if (n > (INT64_MAX - (*p - '0')) / 10)
				return time_bad(kind, s, DURATION_EXPECTED, "the number is too large");
			n = n * 10 + (*p - '0');
		}
		if (*p == '.')
			return time_bad(kind, s, DURATION_EXPECTED,
				"fractions are not supported (write 1h30m, not 1.5h)");
		const char *u = p;
		while (is_alpha(*p))
			p++;
		size_t ulen = (size_t)(p - u);
		int64_t mult = -1;
		if (ulen == 0) {
			if (u != s + strspn(s, "0123456789") || *p)
				return time_bad(kind, s, DURATION_EXPECTED, "every number needs a unit");
			mult = MS_PER_SEC; /* a bare number is seconds */
		}
		for (size_t i = 0; ulen && i < STKDR__ARRAY_SIZE(dur_units); i++)
			if (strlen(dur_units[i].unit) == ulen && memcmp(dur_units[i].unit, u, ulen) == 0)
				mult = dur_units[i].ms;
		if (mult < 0) {
			snprintf(why, sizeof why, "unknown unit \"%.*s\"", ulen > 16 ? 16 : (int)ulen, u);
			return time_bad(kind, s, DURATION_EXPECTED, why);
		}
		if (n > INT64_MAX / mult || n * mult > INT64_MAX - total)
			return time_bad(kind, s, DURATION_EXPECTED, "too large");
		total += n * mult;
	}
	*out_ms = total;
	return 0;
}

void stkdr__time_format_duration(char *out, size_t out_len, int64_t ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} parts[] = {
		{ "d", (uint64_t)MS_PER_DAY },
		{ "h", (uint64_t)MS_PER_HOUR },
		{ "m", (uint64_t)MS_PER_MIN },
		{ "s", (uint64_t)MS_PER_SEC },
		{ "ms", 1 },
	};
	if (!out || out_len == 0)
		return;
	out[0] = '\0';
	if (ms == 0) {
		snprintf(out, out_len, "0s");
		return;
	}
	size_t pos = 0;
	uint64_t v = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
	if (ms < 0 && pos + 1 < out_len)
		out[pos++] = '-';
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(parts) && pos < out_len; i++) {
		uint64_t n = v / parts[i].ms;
		if (n == 0)
			continue;
		v -= n * parts[i].ms;
		int w = snprintf(out + pos, out_len - pos, "%llu%s", (unsigned long long)n, parts[i].unit);
		if (w < 0)
			break;
		pos += (size_t)w;
	}
	if (pos >= out_len)
		pos = out_len - 1;
	out[pos] = '\0';
}
