/*
 * Time as int64 seconds since the Unix epoch, UTC, everywhere in bulletin;
 * text forms are RFC 3339 (UTC, "2026-11-29T10:09:36Z").
 */
#ifndef BL_UTIL_TIME_H
#define BL_UTIL_TIME_H

#include <stddef.h>
#include <stdint.h>

/* Room for an RFC 3339 UTC timestamp plus NUL. */
#define BL_TIME_STRMAX 32

/* bl_now - current time, seconds since the epoch. BULLETIN_FAKE_NOW (seconds) overrides it for
 * tests. */
int64_t bl_now(void);

/* bl_time_format - write @t as "YYYY-MM-DDTHH:MM:SSZ" into @out; returns @out. */
char *bl_time_format(int64_t t, char out[BL_TIME_STRMAX]);

/*
 * bl_time_parse - parse a timestamp as exports write them: RFC 3339
 * ("2022-10-18T06:34:08.000Z", "...+02:00"), "YYYY-MM-DD HH:MM:SS" with an
 * optional " UTC" (taken as UTC), or a bare "YYYY-MM-DD". Fractions of a
 * second are dropped. Years before 1900 and UTC offsets beyond ±14:00 are
 * refused. Returns 0 and sets *@out, or -BL_EINVAL.
 */
int bl_time_parse(const char *s, int64_t *out);

/*
 * bl_timezone_valid - 1 when @name is an IANA time zone name this machine
 * knows: 1-100 bytes of [A-Za-z0-9_+-/], no "." component or leading '/',
 * naming a TZif file under /usr/share/zoneinfo (Debian's tzdata); else 0.
 */
int bl_timezone_valid(const char *name);

/*
 * bl_timezone_set - make @name (bl_timezone_valid) the process's local
 * time zone: setenv("TZ") and tzset(). The zone is process-wide state:
 * call it before any thread starts (bulletin does, once, after reading its
 * configuration) or, in single-threaded tests, between cases. bulletin
 * uses local time only for digest periods (src/send/digest.c); everything
 * else is UTC. Returns 0, or -BL_EINVAL for an unknown zone (nothing set).
 */
int bl_timezone_set(const char *name);

/* bl_monotonic - seconds from a monotonic clock, for rates and ETAs. */
double bl_monotonic(void);

/*
 * bl_days_from_civil - days from 1970-01-01 to year @y, month @m (1-12), day
 * @d of the proleptic Gregorian calendar (negative before 1970); any year.
 * bl_civil_from_days - the inverse: the date of day number @z. (H. Hinnant,
 * "chrono-Compatible Low-Level Date Algorithms".)
 */
int64_t bl_days_from_civil(int64_t y, int m, int d);
void bl_civil_from_days(int64_t z, int64_t *y, int *m, int *d);

#endif
