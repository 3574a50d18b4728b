/* Time helpers; see time.h. */
#include "util/time.h"

#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t bl_now(void)
{
	const char *fake = getenv("BULLETIN_FAKE_NOW");
	if (fake && *fake)
		return strtoll(fake, NULL, 10);
	return (int64_t)time(NULL);
}

double bl_monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *bl_time_format(int64_t t, char out[BL_TIME_STRMAX])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, BL_TIME_STRMAX, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return out;
}

int64_t bl_days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void bl_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int bl_time_parse(const char *s, int64_t *out)
{
	int y, mo, d, h = 0, mi = 0, sec = 0;
	size_t len = strlen(s);
	if (len < 10 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
	    digits(s + 8, 2, &d))
		return -BL_EINVAL;
	const char *p = s + 10;
	long offset = 0;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (strlen(p) < 8 || digits(p, 2, &h) || p[2] != ':' || digits(p + 3, 2, &mi) ||
		    p[5] != ':' || digits(p + 6, 2, &sec))
			return -BL_EINVAL;
		p += 8;
		if (*p == '.') {
			p++;
			if (*p < '0' || *p > '9')
				return -BL_EINVAL;
			while (*p >= '0' && *p <= '9')
				p++;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int oh, om;
			if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om))
				return -BL_EINVAL;
			if (oh > 14 || om > 59)
				return -BL_EINVAL;
			offset = (oh * 3600L + om * 60L) * (*p == '+' ? 1 : -1);
			p += 6;
		} else if (strcmp(p, " UTC") == 0 || strcmp(p, " GMT") == 0) {
			p += 4;
		}
	}
	if (*p != '\0')
		return -BL_EINVAL;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1900)
		return -BL_EINVAL; /* the exports we read start long after; keeps output 4-digit */
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
	    h > 23 || mi > 59 || sec > 60)
		return -BL_EINVAL;
	*out = bl_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
	return 0;
}

int bl_timezone_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > 100 || name[0] == '/' ||
	    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                 "abcdefghijklmnopqrstuvwxyz"
	                 "0123456789_+-/") != n)
		return 0;
	for (const char *p = name; p; p = strchr(p, '/')) {
		if (*p == '/')
			p++;
		if (*p == '.' || *p == '/' || *p == '\0')
			return 0;
	}
	char path[160], magic[4];
	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	size_t got = fread(magic, 1, sizeof(magic), f);
	fclose(f);
	return got == 4 && memcmp(magic, "TZif", 4) == 0;
}

int bl_timezone_set(const char *name)
{
	if (!bl_timezone_valid(name))
		return -BL_EINVAL;
	char tz[120];
	snprintf(tz, sizeof(tz), ":%s", name);
	setenv("TZ", tz, 1);
	tzset();
	return 0;
}
