/* core/timeutil: clocks, RFC 3339, dates, durations, the civil calendar. */
#include "testutil.h"

#include "core/timeutil.h"

#include <stdio.h>
#include <string.h>

/* ---- clocks ---- */

START_TEST(clocks)
{
	int64_t now = stkdr__time_now_ms();
	ck_assert_int_gt(now, INT64_C(1577836800000)); /* after 2020-01-01 */
	ck_assert_int_lt(now, INT64_C(4102444800000)); /* before 2100-01-01 */
	int64_t a = stkdr__time_mono_ms();
	int64_t b = stkdr__time_mono_ms();
	ck_assert_int_ge(b, a);
}
END_TEST

/* ---- the civil calendar ---- */

START_TEST(civil_known_days)
{
	ck_assert_int_eq(stkdr__time_days_from_civil(1970, 1, 1), 0);
	ck_assert_int_eq(stkdr__time_days_from_civil(1969, 12, 31), -1);
	ck_assert_int_eq(stkdr__time_days_from_civil(2000, 3, 1), 11017);
	ck_assert_int_eq(stkdr__time_days_from_civil(2000, 2, 29), 11016);
	ck_assert_int_eq(stkdr__time_days_from_civil(0, 3, 1), -719468);
	ck_assert_int_eq(stkdr__time_days_from_civil(-1, 12, 31), -719529);
	int y, m, d;
	stkdr__time_civil_from_days(-719529, &y, &m, &d);
	ck_assert(y == -1 && m == 12 && d == 31);
	stkdr__time_civil_from_days(19782, &y, &m, &d); /* 2024-02-29 */
	ck_assert(y == 2024 && m == 2 && d == 29);
}
END_TEST

START_TEST(civil_roundtrip_range)
{
	int py, pm, pd;
	stkdr__time_civil_from_days(-1000001, &py, &pm, &pd);
	for (int64_t days = -1000000; days <= 1000000; days++) {
		int y, m, d;
		stkdr__time_civil_from_days(days, &y, &m, &d);
		/* (no ck_assert in the loop: each one is a round trip to the Check parent) */
		if (stkdr__time_days_from_civil(y, m, d) != days)
			ck_abort_msg("day %lld -> %d-%d-%d -> %lld", (long long)days, y, m, d,
				(long long)stkdr__time_days_from_civil(y, m, d));
		/* consecutive: the next day, or the first of the next month/year */
		int ok = (y == py && m == pm && d == pd + 1) || (y == py && m == pm + 1 && d == 1) ||
			(y == py + 1 && m == 1 && pm == 12 && d == 1);
		if (!ok)
			ck_abort_msg("day %lld: %d-%d-%d after %d-%d-%d", (long long)days, y, m, d, py, pm, pd);
		py = y, pm = m, pd = d;
	}
}
END_TEST

/* ---- RFC 3339 ---- */

START_TEST(rfc3339_parse_valid)
{
	static const struct {
		const char *in;
		int64_t ms;
	} v[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2026-02-10T14:25:00Z", INT64_C(1770733500000) },
		{ "2026-02-10t14:25:00z", INT64_C(1770733500000) },
		{ "2026-02-10 14:25:00Z", INT64_C(1770733500000) },
		{ "2026-02-10T14:25:00+00:00", INT64_C(1770733500000) },
		{ "2026-02-10T14:25:00-00:00", INT64_C(1770733500000) },
		{ "2026-02-10T14:25:00.123+02:00", INT64_C(1770726300123) },
		{ "2026-02-10T14:25:00.5-05:30", INT64_C(1770753300500) },
		{ "2026-02-10T14:25:00.500-05:30", INT64_C(1770753300500) },
		{ "2026-02-10T14:25:00.123456789Z", INT64_C(1770733500123) },
		{ "2026-02-10T14:25:00.12Z", INT64_C(1770733500120) },
		{ "2024-02-29T00:00:00Z", INT64_C(1709164800000) },
		{ "2016-12-31T23:59:60Z", INT64_C(1483228799000) }, /* leap second */
		{ "1969-12-31T23:59:59.999Z", -1 },
		{ "0001-01-01T00:00:00Z", INT64_C(-62135596800000) },
		{ "9999-12-31T23:59:59.999Z", INT64_C(253402300799999) },
		{ "2000-03-01T00:00:00+23:59", INT64_C(951782460000) },
	};
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(v); i++) {
		int64_t ms = 42;
		int rc = stkdr__time_parse_rfc3339(&ms, v[i].in);
		ck_assert_msg(rc == 0, "%s: %s", v[i].in, stkdr__err_get()->message);
		ck_assert_msg(ms == v[i].ms, "%s: %lld want %lld", v[i].in, (long long)ms, (long long)v[i].ms);
	}
}
END_TEST

START_TEST(rfc3339_parse_invalid)
{
	static const struct {
		const char *in, *why;
	} v[] = {
		{ "", "empty" },
		{ "garbage", "4-digit year" },
		{ "2026/02/10T14:25:00Z", "4-digit year and '-'" },
		{ "26-02-10T14:25:00Z", "4-digit year" },
		{ "2026-2-10T14:25:00Z", "month must be 2 digits" },
		{ "2026-02-1T14:25:00Z", "day must be 2 digits" },
		{ "2026-13-01T00:00:00Z", "month 13 is out of range" },
		{ "2026-00-10T00:00:00Z", "month 0 is out of range" },
		{ "2023-02-29T00:00:00Z", "day 29 is out of range for 2023-02 (1-28)" },
		{ "1900-02-29T00:00:00Z", "day 29 is out of range for 1900-02" },
		{ "2026-04-31T00:00:00Z", "day 31 is out of range for 2026-04 (1-30)" },
		{ "2026-01-00T00:00:00Z", "day 0 is out of range" },
		{ "2026-02-10", "time of day is missing" },
		{ "2026-02-10X14:25:00Z", "followed by 'T'" },
		{ "2026-02-10T", "HH:MM:SS" },
		{ "2026-02-10T14:25Z", "HH:MM:SS" },
		{ "2026-02-10T14-25-00Z", "HH:MM:SS" },
		{ "2026-02-10T24:00:00Z", "time 24:00:00 is out of range" },
		{ "2026-02-10T14:60:00Z", "out of range" },
		{ "2026-02-10T14:25:61Z", "out of range" },
		{ "2026-02-10T14:25:00", "time zone (Z or +HH:MM) is missing" },
		{ "2026-02-10T14:25:00.Z", "fractional digits" },
		{ "2026-02-10T14:25:00 Z", "unexpected character after the time" },
		{ "2026-02-10T14:25:00+2:00", "+HH:MM" },
		{ "2026-02-10T14:25:00+0200", "+HH:MM" },
		{ "2026-02-10T14:25:00+24:00", "offset 24:00 is out of range" },
		{ "2026-02-10T14:25:00+02:60", "offset 02:60" },
		{ "2026-02-10T14:25:00Zjunk", "unexpected text after the time zone" },
		{ "2026-02-10T14:25:00+02:00 ", "unexpected text" },
	};
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(v); i++) {
		int64_t ms = 42;
		int rc = stkdr__time_parse_rfc3339(&ms, v[i].in);
		ck_assert_msg(rc == STKDR_EINVAL, "\"%s\" accepted", v[i].in);
		ck_assert_int_eq(ms, 42);
		char quoted[128];
		snprintf(quoted, sizeof quoted, "timestamp \"%s\"", v[i].in);
		tu_assert_errmsg(quoted);
		tu_assert_errmsg(v[i].why);
		tu_assert_errmsg("expected RFC 3339");
		ck_assert_int_eq(stkdr__err_get()->klass, STKDR_ERRCLASS_FORMAT);
	}
	int64_t ms;
	tu_assert_rc(stkdr__time_parse_rfc3339(&ms, NULL), STKDR_EINVAL);
	tu_assert_errmsg("none given");
	/* a long input is quoted, shortened */
	char long_in[300];
	memset(long_in, '9', sizeof long_in - 1);
	long_in[sizeof long_in - 1] = '\0';
	tu_assert_rc(stkdr__time_parse_rfc3339(&ms, long_in), STKDR_EINVAL);
	tu_assert_errmsg("999...\"");
}
END_TEST

START_TEST(rfc3339_format)
{
	char out[32];
	stkdr__time_format_rfc3339(out, sizeof out, 0);
	ck_assert_str_eq(out, "1970-01-01T00:00:00Z");
	stkdr__time_format_rfc3339(out, sizeof out, INT64_C(1770733500000));
	ck_assert_str_eq(out, "2026-02-10T14:25:00Z");
	stkdr__time_format_rfc3339(out, sizeof out, INT64_C(1770726300123));
	ck_assert_str_eq(out, "2026-02-10T12:25:00.123Z");
	stkdr__time_format_rfc3339(out, sizeof out, INT64_C(1770733500007));
	ck_assert_str_eq(out, "2026-02-10T14:25:00.007Z");
	stkdr__time_format_rfc3339(out, sizeof out, -1);
	ck_assert_str_eq(out, "1969-12-31T23:59:59.999Z");
	stkdr__time_format_rfc3339(out, sizeof out, INT64_C(-62135596800000));
	ck_assert_str_eq(out, "0001-01-01T00:00:00Z");
	stkdr__time_format_rfc3339(out, sizeof out, INT64_C(253402300799999));
	ck_assert_str_eq(out, "9999-12-31T23:59:59.999Z");
	stkdr__time_format_rfc3339(out, sizeof out, INT64_C(1709164800000));
	ck_assert_str_eq(out, "2024-02-29T00:00:00Z");
	/* a short buffer is truncated, never overflowed */
	char small[11];
	stkdr__time_format_rfc3339(small, sizeof small, 0);
	ck_assert_str_eq(small, "1970-01-01");
}
END_TEST

START_TEST(rfc3339_roundtrip)
{
	/* years 0001..9999, steps that hit every ms residue pattern */
	int64_t lo = INT64_C(-62135596800000), hi = INT64_C(253402300799999);
	uint64_t x = 88172645463325252u;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int64_t ms = lo + (int64_t)(x % (uint64_t)(hi - lo + 1));
		if (i % 3 == 0)
			ms -= ms % 1000; /* also whole seconds */
		char out[32];
		stkdr__time_format_rfc3339(out, sizeof out, ms);
		int64_t back = 0;
		if (stkdr__time_parse_rfc3339(&back, out) != 0 || back != ms)
			ck_abort_msg("%lld -> %s -> %lld: %s", (long long)ms, out, (long long)back,
				stkdr__err_get()->message);
	}
}
END_TEST

/* ---- dates ---- */

START_TEST(dates)
{
	int64_t ms;
	tu_assert_ok(stkdr__time_parse_date(&ms, "2024-02-29"));
	ck_assert_int_eq(ms, INT64_C(1709164800000));
	tu_assert_ok(stkdr__time_parse_date(&ms, "1970-01-01"));
	ck_assert_int_eq(ms, 0);
	tu_assert_ok(stkdr__time_parse_date(&ms, "1969-12-31"));
	ck_assert_int_eq(ms, -86400000);
	tu_assert_ok(stkdr__time_parse_date(&ms, "2000-02-29"));

	static const struct {
		const char *in, *why;
	} bad[] = {
		{ "2023-02-29", "day 29 is out of range for 2023-02" },
		{ "2026-13-01", "month 13" },
		{ "2026-02-10T00:00:00Z", "unexpected text after the day" },
		{ "2026-02-10 ", "unexpected text" },
		{ "2026-02", "the month must be 2 digits followed by '-'" },
		{ "", "empty" },
		{ "yesterday", "4-digit year" },
	};
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(bad); i++) {
		ms = 42;
		tu_assert_rc(stkdr__time_parse_date(&ms, bad[i].in), STKDR_EINVAL);
		ck_assert_int_eq(ms, 42);
		tu_assert_errmsg(bad[i].why);
		tu_assert_errmsg("expected YYYY-MM-DD");
		char quoted[64];
		snprintf(quoted, sizeof quoted, "date \"%s\"", bad[i].in);
		tu_assert_errmsg(quoted);
	}
	tu_assert_rc(stkdr__time_parse_date(&ms, NULL), STKDR_EINVAL);

	char out[16];
	stkdr__time_format_date(out, sizeof out, INT64_C(1770733500000));
	ck_assert_str_eq(out, "2026-02-10");
	stkdr__time_format_date(out, sizeof out, -1);
	ck_assert_str_eq(out, "1969-12-31");
	stkdr__time_format_date(out, sizeof out, INT64_C(-86400000));
	ck_assert_str_eq(out, "1969-12-31");
	stkdr__time_format_date(out, sizeof out, INT64_C(-86400001));
	ck_assert_str_eq(out, "1969-12-30");
	stkdr__time_format_date(out, sizeof out, INT64_C(1709164800000) + 86399999);
	ck_assert_str_eq(out, "2024-02-29");
}
END_TEST

/* ---- durations ---- */

START_TEST(duration_parse_valid)
{
	static const struct {
		const char *in;
		int64_t ms;
	} v[] = {
		{ "30s", 30000 },
		{ "15m", 900000 },
		{ "24h", 86400000 },
		{ "7d", 604800000 },
		{ "2w", 1209600000 },
		{ "1h30m", 5400000 },
		{ "500ms", 500 },
		{ "1m500ms", 60500 },
		{ "1d12h", 129600000 },
		{ "30m1h", 5400000 },
		{ "0s", 0 },
		{ "0", 0 },
		{ "45", 45000 },
		{ "007s", 7000 },
		{ "9223372036854775807ms", INT64_MAX },
		{ "9223372036854775s807ms", INT64_MAX },
	};
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(v); i++) {
		int64_t ms = -42;
		int rc = stkdr__time_parse_duration(&ms, v[i].in);
		ck_assert_msg(rc == 0, "%s: %s", v[i].in, stkdr__err_get()->message);
		ck_assert_msg(ms == v[i].ms, "%s: %lld want %lld", v[i].in, (long long)ms, (long long)v[i].ms);
	}
}
END_TEST

START_TEST(duration_parse_invalid)
{
	static const struct {
		const char *in, *why;
	} v[] = {
		{ "", "empty" },
		{ "-5m", "negative durations are not allowed" },
		{ "5x", "unknown unit \"x\"" },
		{ "5min", "unknown unit \"min\"" },
		{ "5S", "unknown unit \"S\"" },
		{ "5mss", "unknown unit \"mss\"" },
		{ "h", "a number must come before the unit 'h'" },
		{ "1hm", "unknown unit \"hm\"" },
		{ "1h30", "every number needs a unit" },
		{ "1.5h", "fractions are not supported" },
		{ "5 m", "every number needs a unit" },
		{ " 5m", "unexpected character ' '" },
		{ "+5m", "unexpected character '+'" },
		{ "5m,", "unexpected character ','" },
		{ "9223372036854775808ms", "the number is too large" },
		{ "99999999999999999999999s", "the number is too large" },
		{ "9223372036854775807s", "too large" },
		{ "106751991167301d", "too large" },
		{ "9223372036854775807ms1ms", "too large" },
		{ "5xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "unknown unit \"xxxxxxxxxxxxxxxx\"" },
	};
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(v); i++) {
		int64_t ms = 42;
		int rc = stkdr__time_parse_duration(&ms, v[i].in);
		ck_assert_msg(rc == STKDR_EINVAL, "\"%s\" accepted (%lld)", v[i].in, (long long)ms);
		ck_assert_int_eq(ms, 42);
		char quoted[64];
		snprintf(quoted, sizeof quoted, "duration \"%s\"", v[i].in);
		tu_assert_errmsg(quoted);
		tu_assert_errmsg(v[i].why);
		tu_assert_errmsg("e.g. 30s, 15m");
	}
	int64_t ms;
	tu_assert_rc(stkdr__time_parse_duration(&ms, NULL), STKDR_EINVAL);
	tu_assert_errmsg("none given");
}
END_TEST

START_TEST(duration_format)
{
	static const struct {
		int64_t ms;
		const char *out;
	} v[] = {
		{ 0, "0s" },
		{ 1, "1ms" },
		{ 250, "250ms" },
		{ 1000, "1s" },
		{ 30000, "30s" },
		{ 900000, "15m" },
		{ 5400000, "1h30m" },
		{ 86400000, "1d" },
		{ 604800000, "7d" },
		{ 1209600000, "14d" },
		{ 90061001, "1d1h1m1s1ms" },
		{ 86400001, "1d1ms" },
		{ -1500, "-1s500ms" },
		{ INT64_MAX, "106751991167d7h12m55s807ms" },
		{ INT64_MIN, "-106751991167d7h12m55s808ms" },
	};
	for (size_t i = 0; i < STKDR__ARRAY_SIZE(v); i++) {
		char out[64];
		stkdr__time_format_duration(out, sizeof out, v[i].ms);
		ck_assert_str_eq(out, v[i].out);
		if (v[i].ms >= 0) {
			int64_t back;
			tu_assert_ok(stkdr__time_parse_duration(&back, out));
			ck_assert_int_eq(back, v[i].ms);
		}
	}
	/* truncation is safe */
	char small[4] = "zzz";
	stkdr__time_format_duration(small, sizeof small, 5400000);
	ck_assert_str_eq(small, "1h3");
	stkdr__time_format_duration(small, 2, -5);
	ck_assert_str_eq(small, "-");
	stkdr__time_format_duration(small, 1, 5);
	ck_assert_str_eq(small, "");
	small[0] = 'q';
	stkdr__time_format_duration(small, 0, 5);
	ck_assert_int_eq(small[0], 'q');
	stkdr__time_format_duration(NULL, 10, 5);
}
END_TEST

START_TEST(duration_roundtrip)
{
	uint64_t x = 2463534242u;
	for (int i = 0; i < 100000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int64_t ms = (int64_t)(x >> (1 + i % 40));
		char out[64];
		stkdr__time_format_duration(out, sizeof out, ms);
		int64_t back = 0;
		if (stkdr__time_parse_duration(&back, out) != 0 || back != ms)
			ck_abort_msg("%lld -> %s -> %lld: %s", (long long)ms, out, (long long)back,
				stkdr__err_get()->message);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("timeutil");
	TCase *tc = tcase_create("calendar");
	tcase_add_test(tc, clocks);
	tcase_add_test(tc, civil_known_days);
	tcase_add_test(tc, civil_roundtrip_range);
	suite_add_tcase(s, tc);

	tc = tcase_create("rfc3339");
	tcase_add_test(tc, rfc3339_parse_valid);
	tcase_add_test(tc, rfc3339_parse_invalid);
	tcase_add_test(tc, rfc3339_format);
	tcase_add_test(tc, rfc3339_roundtrip);
	tcase_add_test(tc, dates);
	suite_add_tcase(s, tc);

	tc = tcase_create("duration");
	tcase_add_test(tc, duration_parse_valid);
	tcase_add_test(tc, duration_parse_invalid);
	tcase_add_test(tc, duration_format);
	tcase_add_test(tc, duration_roundtrip);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
