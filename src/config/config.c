/*
 * The configuration table and its loaders; see config.h. To add a key, add
 * one row to keys[] (kept in alphabetical order for `config dump`).
 */
#include "config/config.h"

#include "util/log.h"
#include "util/str.h"
#include "util/time.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#include <ini.h>

#include <errno.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY (24LL * 3600)

static const struct bl_config_key keys[] = {
    {"bounce_domain", BL_CONF_STR, "", 0, 0, NULL,
     "domain of the VERP envelope sender bounces+TOKEN@DOMAIN; empty = the domain of `from`"},
    {"bounce_hard_limit", BL_CONF_INT, "1", 1, 100, NULL,
     "hard bounces (address unknown) that disable a subscriber"},
    {"bounce_mailbox", BL_CONF_STR, "", 0, 0, NULL,
     "IMAP or POP3 mailbox `serve` and `bounce --mailbox` read bounces from: "
     "imaps://USER@HOST/FOLDER or pop3s://USER@HOST/; empty = none"},
    {"bounce_mailbox_every", BL_CONF_DURATION, "5m", 10, DAY, NULL,
     "time between two polls of bounce_mailbox by `serve`"},
    {"bounce_mailbox_move", BL_CONF_STR, "", 0, 0, NULL,
     "IMAP folder handled bounces move to; empty = they are deleted"},
    {"bounce_mailbox_password_file", BL_CONF_STR, "", 0, 0, NULL,
     "file whose first line is the password of bounce_mailbox (instead of one in its URL)"},
    {"bounce_soft_limit", BL_CONF_INT, "5", 1, 1000, NULL,
     "soft bounces within bounce_soft_window that send a probe message; a bounce of the "
     "probe disables the subscriber"},
    {"bounce_soft_window", BL_CONF_DURATION, "30d", 1, 365 * DAY, NULL,
     "the window soft bounces are counted in (and at most one probe per subscriber in it)"},
    {"bounce_warn_complaint_rate", BL_CONF_RATE, "0.001", 0, 1000000, NULL,
     "post status, the API and the admin UI warn when a post's complaint rate is above this "
     "(0.001 = 0.1%)"},
    {"bounce_warn_hard_rate", BL_CONF_RATE, "0.02", 0, 1000000, NULL,
     "post status, the API and the admin UI warn when a post's hard-bounce rate is above "
     "this (0.02 = 2%)"},
    {"breaker_cooldown", BL_CONF_DURATION, "15m", 1, DAY, NULL,
     "how long confirmation mail stays stopped after the global signup budget ran out"},
    {"concurrency", BL_CONF_INT, "8", 1, 256, NULL,
     "SMTP connections (messages in flight) per delivery engine"},
    {"confirm_interval", BL_CONF_DURATION, "24h", 0, 30 * DAY, NULL,
     "at most one confirmation mail per address in this time, however many signups arrive"},
    {"confirm_ttl", BL_CONF_DURATION, "7d", 60, 365 * DAY, NULL,
     "how long a confirmation link stays valid"},
    {"db", BL_CONF_STR, "sqlite:bulletin.db", 0, 0, NULL,
     "database: sqlite:PATH or a postgresql:// URI"},
    {"db_busy_timeout", BL_CONF_DURATION, "10s", 0, 3600, NULL,
     "how long to wait for a locked SQLite database"},
    {"delivery_lease", BL_CONF_DURATION, "2m", 1, DAY, NULL,
     "how long a claimed delivery stays with its engine before another may take it as in doubt"},
    {"digest_time", BL_CONF_CLOCK, "08:00", 0, 0, NULL,
     "when daily and weekly digests go out, HH:MM local time in `timezone`"},
    {"digest_weekday", BL_CONF_ENUM, "monday", 0, 0,
     "monday|tuesday|wednesday|thursday|friday|saturday|sunday",
     "the day weekly digests go out (at digest_time)"},
    {"feed_allow_private", BL_CONF_BOOL, "false", 0, 0, NULL,
     "fetch feeds from loopback, private, link-local and other non-public addresses (SSRF "
     "guard off)"},
    {"feed_max_size", BL_CONF_INT, "10485760", 1024, 1073741824, NULL,
     "largest feed accepted, bytes after decompression (the fetch stops there)"},
    {"feed_timeout", BL_CONF_DURATION, "30s", 1, 3600, NULL,
     "longest time one feed fetch may take, redirects included"},
    {"form_min_fill", BL_CONF_DURATION, "2s", 0, 3600, NULL,
     "a signup form sent back sooner than this after it was served is taken for a bot"},
    {"from", BL_CONF_STR, "", 0, 0, NULL,
     "default sender of posts: \"Name <address>\" or an address"},
    {"http_body_max", BL_CONF_INT, "65536", 1024, 16777216, NULL,
     "largest HTTP request body, bytes (413 above)"},
    {"http_connections_per_ip", BL_CONF_INT, "32", 1, 100000, NULL,
     "simultaneous HTTP connections from one client address"},
    {"http_header_max", BL_CONF_INT, "16384", 4096, 1048576, NULL,
     "largest header block of one HTTP request, bytes (431 above)"},
    {"http_threads", BL_CONF_INT, "32", 1, 1024, NULL,
     "HTTP worker threads of `serve` (each runs one request at a time; signups commit in groups "
     "across them)"},
    {"import_batch", BL_CONF_INT, "50000", 1, 10000000, NULL,
     "rows committed per import transaction"},
    {"import_max", BL_CONF_INT, "268435456", 1024, 4294967296LL, NULL,
     "largest CSV file uploaded through the API or the admin UI, bytes (413 above)"},
    {"import_role_addresses", BL_CONF_BOOL, "false", 0, 0, NULL,
     "accept role addresses (postmaster@, abuse@, noreply@, webmaster@ ...) on import"},
    {"list_id_domain", BL_CONF_STR, "", 0, 0, NULL,
     "domain of List-Id headers (RFC 2919): SLUG.DOMAIN; empty = the host of `public_url`"},
    {"listen", BL_CONF_STR, "127.0.0.1:8080", 0, 0, NULL,
     "address and port `serve` listens on: HOST:PORT or [IPV6]:PORT (port 0: any free port)"},
    {"log_level", BL_CONF_ENUM, "info", 0, 0, "debug|info|warn|error",
     "least severe log message shown"},
    {"login_rate_ip", BL_CONF_INT, "20", 0, 1000000, NULL,
     "admin login attempts per client address per hour, right or wrong; 0 = no limit"},
    {"login_rate_user", BL_CONF_INT, "10", 0, 1000000, NULL,
     "failed admin login attempts per user name per hour (a right password does not count); "
     "0 = no limit"},
    {"max_schedule_lateness", BL_CONF_DURATION, "1h", 0, 365 * DAY, NULL,
     "a scheduled post found later than this past its time (bulletin was down) is held for a "
     "person instead of sent"},
    {"postal_address", BL_CONF_STR, "", 0, 0, NULL,
     "the publisher's postal address, shown in every message's footer"},
    {"public_url", BL_CONF_STR, "http://127.0.0.1:8080", 0, 0, NULL,
     "base URL of every link in messages (unsubscribe, preferences, archive)"},
    {"rate_limit", BL_CONF_INT, "0", 0, 1000000, NULL,
     "messages per second per delivery engine; 0 = as fast as the relays take them"},
    {"relay", BL_CONF_STR, "maildir:outbox", 0, 0, NULL,
     "comma-separated transports: smtp://[user:pass@]host[:port], smtps://..., maildir:PATH"},
    {"relay_retry_max", BL_CONF_DURATION, "5m", 1, DAY, NULL,
     "longest wait between probes of a relay that failed at connection level"},
    {"relay_retry_min", BL_CONF_DURATION, "5s", 1, DAY, NULL,
     "first wait before probing a relay that failed at connection level"},
    {"relay_starttls", BL_CONF_ENUM, "opportunistic", 0, 0, "opportunistic|required|off",
     "STARTTLS on smtp:// relays"},
    {"relay_timeout", BL_CONF_DURATION, "60s", 1, 3600, NULL,
     "timeout for connecting to a relay and for each SMTP reply"},
    {"relay_tls_verify", BL_CONF_BOOL, "true", 0, 0, NULL, "verify relay TLS certificates"},
    {"resend_rate_ip", BL_CONF_INT, "10", 0, 1000000, NULL,
     "confirmation resend requests per client address per hour; 0 = no limit"},
    {"retry_max", BL_CONF_DURATION, "1h", 1, 30 * DAY, NULL,
     "longest back-off between attempts of a deferred (4xx) delivery"},
    {"retry_max_age", BL_CONF_DURATION, "3d", 1, 30 * DAY, NULL,
     "a delivery still deferred this long after its first attempt fails"},
    {"retry_min", BL_CONF_DURATION, "1m", 1, 30 * DAY, NULL,
     "first back-off of a deferred (4xx) delivery; it doubles per attempt"},
    {"session_ttl", BL_CONF_DURATION, "12h", 60, 30 * DAY, NULL,
     "how long an admin login lasts; a password change ends every session at once"},
    {"signup_rate_global", BL_CONF_INT, "10000", 0, 100000000, NULL,
     "signups per hour from all clients (429 above; confirmation mail stops for breaker_cooldown); "
     "0 = no limit"},
    {"signup_rate_ip", BL_CONF_INT, "30", 0, 1000000, NULL,
     "signups per client address per hour (429 above); 0 = no limit"},
    {"site_name", BL_CONF_STR, "", 0, 0, NULL,
     "the publication's name on web pages and confirmation mail; empty = the host of `public_url`"},
    {"smtputf8", BL_CONF_BOOL, "false", 0, 0, NULL,
     "accept UTF-8 local parts in addresses (RFC 6531); the relay must support SMTPUTF8"},
    {"templates_dir", BL_CONF_STR, "", 0, 0, NULL,
     "directory of web page templates replacing the built-in ones by file name; empty = none"},
    {"timezone", BL_CONF_TIMEZONE, "UTC", 0, 0, NULL,
     "time zone of digest_time (IANA name: UTC, Europe/Paris, America/New_York ...)"},
    {"webhook_mailgun_key", BL_CONF_STR, "", 0, 0, NULL,
     "Mailgun HTTP webhook signing key for POST /webhooks/mailgun; empty = that webhook is off"},
    {"webhook_max_age", BL_CONF_DURATION, "5m", 10, 7 * DAY, NULL,
     "how old a signed webhook timestamp may be (SendGrid, Mailgun; SNS allows at least 1h)"},
    {"webhook_postmark_auth", BL_CONF_STR, "", 0, 0, NULL,
     "USER:PASSWORD Postmark sends as HTTP Basic auth to POST /webhooks/postmark; empty = off"},
    {"webhook_sendgrid_key", BL_CONF_STR, "", 0, 0, NULL,
     "SendGrid signed Event Webhook verification key (base64) for POST /webhooks/sendgrid; "
     "empty = off"},
    {"webhook_sns_cert", BL_CONF_STR, "", 0, 0, NULL,
     "PEM file of the SNS signing certificate; empty = fetch SigningCertURL from "
     "sns.REGION.amazonaws.com over HTTPS"},
    {"webhook_sns_topic", BL_CONF_STR, "", 0, 0, NULL,
     "ARN of the SNS topic of SES bounce/complaint notifications for POST /webhooks/ses; "
     "empty = off"},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct value {
	char *text;
	long long num;
	enum bl_config_origin origin;
	char *where;
};

struct bl_config {
	struct value v[NKEYS];
};

static const struct bl_config_key *find_key(const char *name, size_t *idx)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].name, name) == 0) {
			if (idx)
				*idx = i;
			return &keys[i];
		}
	}
	return NULL;
}

static int parse_bool(const char *s, long long *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (bl_strcaseeq(s, yes[i])) {
			*out = 1;
			return 0;
		}
		if (bl_strcaseeq(s, no[i])) {
			*out = 0;
			return 0;
		}
	}
	return -BL_EINVAL;
}

int bl_duration_parse(const char *s, long long *out)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-' || *s == '+')
		return -BL_EINVAL;
	long long v = strtoll(s, &end, 10);
	if (end == s || errno)
		return -BL_EINVAL;
	long long mult = 1;
	if (*end) {
		switch (*end) {
		case 's':
			mult = 1;
			break;
		case 'm':
			mult = 60;
			break;
		case 'h':
			mult = 3600;
			break;
		case 'd':
			mult = DAY;
			break;
		case 'w':
			mult = 7 * DAY;
			break;
		default:
			return -BL_EINVAL;
		}
		if (end[1])
			return -BL_EINVAL;
	}
	if (v > (1LL << 40))
		return -BL_ELIMIT;
	*out = v * mult;
	return 0;
}

int bl_rate_parse(const char *s, long long *out)
{
	/* Exact decimal arithmetic in parts per million: six fraction digits of a fraction,
	 * four of a percentage, so "0.1%" and "0.001" are both exactly 1000. */
	size_t n = strlen(s);
	int pct = n > 0 && s[n - 1] == '%';
	const int scale = pct ? 4 : 6;
	long long whole = 0, frac = 0;
	int digits = 0, fdigits = 0, point = 0;
	for (size_t i = 0; i < n - (size_t)pct; i++) {
		char c = s[i];
		if (c == '.' && !point) {
			point = 1;
		} else if (c >= '0' && c <= '9') {
			digits++;
			if (!point) {
				if (whole > 1000LL * (pct ? 100 : 1))
					return -BL_ELIMIT;
				whole = whole * 10 + (c - '0');
			} else if (fdigits < scale) {
				frac = frac * 10 + (c - '0');
				fdigits++;
			} else if (c != '0') {
				return -BL_EINVAL; /* finer than one part per million */
			}
		} else {
			return -BL_EINVAL;
		}
	}
	if (!digits)
		return -BL_EINVAL;
	for (; fdigits < scale; fdigits++)
		frac *= 10;
	long long v = whole * (pct ? 10000LL : 1000000LL) + frac;
	if (v > 1000LL * 1000000)
		return -BL_ELIMIT;
	*out = v;
	return 0;
}

static int enum_has(const char *choices, const char *s)
{
	size_t n = strlen(s);
	const char *p = choices;
	while (*p) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncmp(p, s, n) == 0)
			return 1;
		if (!bar)
			break;
		p = bar + 1;
	}
	return 0;
}

/* Check @value against @k; on success store its number in *@num. */
static int validate(const struct bl_config_key *k, const char *value, const char *where,
                    long long *num, struct bl_diag *d)
{
	if (!bl_utf8_valid(value, strlen(value), NULL))
		return bl_diag_set(d, BL_EINVAL, "%s: value of %s is not UTF-8", where, k->name);
	int rc;
	*num = 0;
	switch (k->type) {
	case BL_CONF_STR:
		return 0;
	case BL_CONF_BOOL:
		if (parse_bool(value, num))
			return bl_diag_set(d, BL_EINVAL,
			                   "%s: %s must be true or false (got \"%s\")", where,
			                   k->name, value);
		return 0;
	case BL_CONF_INT:
		rc = bl_parse_int64(value, k->min, k->max, num);
		if (rc)
			return bl_diag_set(d, BL_EINVAL,
			                   "%s: %s must be a whole number from %lld to %lld (got "
			                   "\"%s\")",
			                   where, k->name, k->min, k->max, value);
		return 0;
	case BL_CONF_DURATION:
		rc = bl_duration_parse(value, num);
		if (rc || *num < k->min || *num > k->max)
			return bl_diag_set(d, BL_EINVAL,
			                   "%s: %s must be a duration such as 30s or 5m, "
			                   "from %llds to %llds (got \"%s\")",
			                   where, k->name, k->min, k->max, value);
		return 0;
	case BL_CONF_CLOCK: {
		int hh = -1, mm = -1, end = 0;
		if (strlen(value) != 5 || sscanf(value, "%2d:%2d%n", &hh, &mm, &end) != 2 ||
		    end != 5 || value[2] != ':' || hh < 0 || hh > 23 || mm < 0 || mm > 59 ||
		    strspn(value, "0123456789:") != 5)
			return bl_diag_set(d, BL_EINVAL,
			                   "%s: %s must be a time of day HH:MM, 00:00 to 23:59 "
			                   "(got \"%s\")",
			                   where, k->name, value);
		*num = hh * 60 + mm;
		return 0;
	}
	case BL_CONF_TIMEZONE:
		if (!bl_timezone_valid(value))
			return bl_diag_set(
			    d, BL_EINVAL,
			    "%s: %s must be an IANA time zone name such as UTC or "
			    "Europe/Paris, found under /usr/share/zoneinfo (got \"%s\")",
			    where, k->name, value);
		return 0;
	case BL_CONF_RATE:
		rc = bl_rate_parse(value, num);
		if (rc || *num < k->min || *num > k->max)
			return bl_diag_set(
			    d, BL_EINVAL,
			    "%s: %s must be a fraction such as 0.001 or a percentage "
			    "such as 0.1%%, from %g to %g, to one part per million "
			    "(got \"%s\")",
			    where, k->name, (double)k->min / 1e6, (double)k->max / 1e6, value);
		return 0;
	case BL_CONF_ENUM:
		if (!enum_has(k->choices, value))
			return bl_diag_set(d, BL_EINVAL, "%s: %s must be one of %s (got \"%s\")",
			                   where, k->name, k->choices, value);
		return 0;
	}
	return -BL_EINVAL;
}

struct bl_config *bl_config_create(void)
{
	struct bl_config *c = bl_xcalloc(1, sizeof(*c));
	for (size_t i = 0; i < NKEYS; i++) {
		long long num;
		if (validate(&keys[i], keys[i].def, "default", &num, NULL))
			bl_panic("default of config key %s is invalid", keys[i].name);
		c->v[i].text = bl_xstrdup(keys[i].def);
		c->v[i].num = num;
		c->v[i].origin = BL_ORIGIN_DEFAULT;
		c->v[i].where = bl_xstrdup("");
	}
	return c;
}

void bl_config_destroy(struct bl_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < NKEYS; i++) {
		free(c->v[i].text);
		free(c->v[i].where);
	}
	free(c);
}

int bl_config_set(struct bl_config *c, const char *name, const char *value,
                  enum bl_config_origin origin, const char *where, struct bl_diag *d)
{
	size_t i;
	const struct bl_config_key *k = find_key(name, &i);
	if (!k)
		return bl_diag_set(d, BL_ENOENT, "%s: unknown configuration key \"%s\"", where,
		                   name);
	long long num;
	int rc = validate(k, value, where, &num, d);
	if (rc)
		return rc;
	free(c->v[i].text);
	free(c->v[i].where);
	c->v[i].text = bl_xstrdup(value);
	c->v[i].num = num;
	c->v[i].origin = origin;
	c->v[i].where = bl_xstrdup(where);
	return 0;
}

/* inih callback state: values are collected first and applied only if the whole file is good. */
struct file_state {
	const char *path;
	struct bl_config *scratch;
	struct bl_diag *d;
	int rc;
	FILE *f;
	int lineno; /* line last handed to inih */
};

/* fgets-style reader for inih that counts lines, so errors can name them. */
static char *read_line(char *str, int num, void *stream)
{
	struct file_state *st = stream;
	char *r = fgets(str, num, st->f);
	if (!r)
		return NULL;
	st->lineno++;
	/* inih would cut a long line in two and read the rest as another line. */
	size_t n = strlen(r);
	if (n == (size_t)num - 1 && r[n - 1] != '\n' && !feof(st->f)) {
		if (!st->rc)
			st->rc = bl_diag_set(st->d, BL_EINVAL, "%s:%d: line longer than %d bytes",
			                     st->path, st->lineno, num - 2);
		return NULL;
	}
	return r;
}

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
	struct file_state *st = user;
	int lineno = st->lineno;
	if (st->rc)
		return 0;
	char key[256], where[1200];
	if (section && *section)
		snprintf(key, sizeof(key), "%s.%s", section, name);
	else
		snprintf(key, sizeof(key), "%s", name);
	snprintf(where, sizeof(where), "%s:%d", st->path, lineno);
	int rc = bl_config_set(st->scratch, key, value, BL_ORIGIN_FILE, where, st->d);
	if (rc) {
		if (rc == -BL_ENOENT)
			bl_diag_set(st->d, BL_EINVAL,
			            "%s: unknown configuration key \"%s\" (see `bulletin config "
			            "dump` for the keys)",
			            where, key);
		st->rc = -BL_EINVAL;
		return 0;
	}
	return 1;
}

int bl_config_load_file(struct bl_config *c, const char *path, struct bl_diag *d)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return bl_diag_set(d, BL_EIO, "cannot read config file %s: %s", path,
		                   strerror(errno));
	struct stat sb;
	if (fstat(fileno(f), &sb) == 0 && !S_ISREG(sb.st_mode)) {
		fclose(f);
		return bl_diag_set(d, BL_EIO, "cannot read config file %s: not a regular file",
		                   path);
	}
	struct file_state st = {.path = path, .scratch = bl_config_create(), .d = d, .f = f};
	/* Debian's inih takes these at run time: long lines, no inline ';'
	 * comments (a postal address may hold one), no continuation lines. */
	ini_use_stack = false;
	ini_max_line = 16384;
	ini_allow_inline_comments = false;
	ini_allow_multiline = false;
	int line = ini_parse_stream(read_line, &st, on_ini, &st);
	fclose(f);
	if (st.rc == 0 && line != 0) {
		st.rc = bl_diag_set(d, BL_EINVAL, "%s:%d: syntax error (expected key = value)",
		                    path, line);
	}
	if (st.rc == 0) {
		for (size_t i = 0; i < NKEYS; i++) {
			struct value *v = &st.scratch->v[i];
			if (v->origin != BL_ORIGIN_FILE)
				continue;
			bl_config_set(c, keys[i].name, v->text, v->origin, v->where, NULL);
		}
	}
	bl_config_destroy(st.scratch);
	return st.rc;
}

void bl_config_env_name(const char *name, char *out, size_t n)
{
	snprintf(out, n, "BULLETIN_%s", name);
	for (char *p = out; *p; p++) {
		if (*p == '.')
			*p = '_';
		else if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 32);
	}
}

int bl_config_load_env(struct bl_config *c, char **envp, struct bl_diag *d)
{
	for (char **e = envp; e && *e; e++) {
		if (strncmp(*e, "BULLETIN_", 9) != 0)
			continue;
		const char *eq = strchr(*e, '=');
		if (!eq)
			continue;
		size_t nlen = (size_t)(eq - *e);
		int matched = 0;
		for (size_t i = 0; i < NKEYS; i++) {
			char env[300];
			bl_config_env_name(keys[i].name, env, sizeof(env));
			if (strlen(env) == nlen && strncmp(env, *e, nlen) == 0) {
				int rc =
				    bl_config_set(c, keys[i].name, eq + 1, BL_ORIGIN_ENV, env, d);
				if (rc)
					return rc;
				matched = 1;
				break;
			}
		}
		static const char *const own[] = {"BULLETIN_CONFIG", "BULLETIN_FAKE_NOW"};
		for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
			if (strlen(own[i]) == nlen && strncmp(own[i], *e, nlen) == 0)
				matched = 1;
		if (!matched)
			bl_warn("environment variable %.*s matches no configuration key; ignored",
			        (int)nlen, *e);
	}
	return 0;
}

static const struct value *get(const struct bl_config *c, const char *name,
                               enum bl_config_type want)
{
	size_t i;
	const struct bl_config_key *k = find_key(name, &i);
	if (!k)
		bl_panic("unknown configuration key %s", name);
	if (want != k->type &&
	    !(want == BL_CONF_INT && (k->type == BL_CONF_DURATION || k->type == BL_CONF_CLOCK ||
	                              k->type == BL_CONF_RATE)) &&
	    !(want == BL_CONF_STR))
		bl_panic("configuration key %s read with the wrong type", name);
	return &c->v[i];
}

const char *bl_config_str(const struct bl_config *c, const char *name)
{
	return get(c, name, BL_CONF_STR)->text;
}

long long bl_config_int(const struct bl_config *c, const char *name)
{
	return get(c, name, BL_CONF_INT)->num;
}

int bl_config_bool(const struct bl_config *c, const char *name)
{
	return (int)get(c, name, BL_CONF_BOOL)->num;
}

size_t bl_config_count(void)
{
	return NKEYS;
}

void bl_config_entry_at(const struct bl_config *c, size_t i, struct bl_config_entry *out)
{
	out->key = &keys[i];
	out->value = c->v[i].text;
	out->origin = c->v[i].origin;
	out->where = c->v[i].where;
}

const char *bl_config_origin_name(enum bl_config_origin o)
{
	static const char *const names[] = {"default", "file", "env", "flag"};
	return names[o];
}
