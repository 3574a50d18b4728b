/*
 * Analysis of one report (bounce.h): the MIME structure from
 * src/mime/report.h becomes a kind and per-recipient findings. In order: an
 * ARF part or a provider's non-ARF complaint; an RFC 3464 delivery-status
 * part; an RFC 3834 auto-reply; else text heuristics over the human-readable
 * part, which find the failed addresses (every address in the text before
 * the returned original that is not the sender's, the report's own or a
 * daemon's) and give each the lines that follow it as its diagnostic. The
 * attribution hints and the dedupe key are filled for every kind.
 */
#include "bounce/bounce.h"

#include "core/crypto.h"
#include "mime/report.h"
#include "util/buf.h"
#include "util/str.h"
#include "util/xalloc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Most findings the text heuristics make from one report. */
#define MAX_TEXT_RCPTS 100
/* Longest diagnostic kept, bytes. */
#define DIAG_MAX 1000
/* Longest address taken from text, bytes. */
#define ADDR_MAX 254

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* @n bytes at @h contain @needle (lowercase ASCII), any case. Returns the offset or -1. */
static long ci_find(const char *h, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	if (k == 0)
		return 0;
	if (k > n)
		return -1;
	for (size_t i = 0; i + k <= n; i++) {
		if (lower((unsigned char)h[i]) != needle[0])
			continue;
		size_t j = 1;
		while (j < k && lower((unsigned char)h[i + j]) == needle[j])
			j++;
		if (j == k)
			return (long)i;
	}
	return -1;
}

/* The @n bytes at @s begin with @prefix (lowercase), any case. */
static int ci_prefix(const char *s, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);
	if (k > n)
		return 0;
	for (size_t i = 0; i < k; i++)
		if (lower((unsigned char)s[i]) != prefix[i])
			return 0;
	return 1;
}

static int ci_has(const char *s, const char *needle)
{
	return s && ci_find(s, strlen(s), needle) >= 0;
}

/* Any of the NULL-terminated @needles (lowercase) in the @n bytes at @s, any case. A long
 * text is lowercased once and searched with strstr (vectorised in libc) rather than scanned
 * byte by byte once per needle. */
static int ci_any(const char *s, size_t n, const char *const *needles)
{
	if (n < 256) {
		for (size_t i = 0; needles[i]; i++)
			if (ci_find(s, n, needles[i]) >= 0)
				return 1;
		return 0;
	}
	char *low = bl_xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		low[i] = (char)lower((unsigned char)s[i]);
	low[n] = '\0';
	int found = 0;
	for (size_t i = 0; needles[i] && !found; i++)
		found = strstr(low, needles[i]) != NULL;
	free(low);
	return found;
}

static int local_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr(".!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int domain_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.';
}

/*
 * Finds the next address in @s[@from..@n): a local part and a domain with a dot whose last
 * label has letters only. Returns 1 with its span in *@start and *@len, else 0.
 */
static int next_address(const char *s, size_t n, size_t from, size_t *start, size_t *len)
{
	for (size_t i = from; i < n; i++) {
		if (s[i] != '@')
			continue;
		size_t a = i;
		while (a > from && local_char((unsigned char)s[a - 1]) && i - a < 64)
			a--;
		while (a < i && (s[a] == '.' || s[a] == '\'' || s[a] == '=' || s[a] == '/'))
			a++; /* quotes and punctuation before an address are not its local part */
		/* an X.400 name's domain-defined attribute: "dda:SMTP=user@domain" */
		if (i - a > 5 && ci_find(s + a, 5, "smtp=") == 0)
			a += 5;
		else if (i - a > 7 && ci_find(s + a, 7, "rfc822=") == 0)
			a += 7;
		size_t b = i + 1;
		while (b < n && domain_char((unsigned char)s[b]) && b - i < 255)
			b++;
		while (b > i + 1 && (s[b - 1] == '.' || s[b - 1] == '-'))
			b--;
		if (a == i || b == i + 1)
			continue;
		/* the last label: letters only, at least two */
		size_t dot = b;
		while (dot > i + 1 && s[dot - 1] != '.')
			dot--;
		if (dot == i + 1 || b - dot < 2)
			continue;
		int alpha = 1;
		for (size_t k = dot; k < b; k++)
			if (!((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z')))
				alpha = 0;
		if (!alpha || b - a > ADDR_MAX)
			continue;
		*start = a;
		*len = b - a;
		return 1;
	}
	return 0;
}

/* The first address in @s as a malloc'd string, or "" (never NULL). */
static char *first_address(const char *s)
{
	size_t a, n;
	if (s && next_address(s, strlen(s), 0, &a, &n)) {
		char *r = bl_xmalloc(n + 1);
		memcpy(r, s + a, n);
		r[n] = '\0';
		return r;
	}
	return bl_xstrdup("");
}

/* Lowercased copies of addresses never taken as a failed recipient. */
struct addrset {
	char **v;
	size_t n, cap;
};

static void addrset_add(struct addrset *s, const char *a, size_t n)
{
	if (n == 0)
		return;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = bl_xreallocarray(s->v, s->cap, sizeof(*s->v));
	}
	char *c = bl_xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		c[i] = (char)lower((unsigned char)a[i]);
	c[n] = '\0';
	s->v[s->n++] = c;
}

/* Every address in @value. */
static void addrset_add_all(struct addrset *s, const char *value)
{
	size_t pos = 0, a, n;
	if (!value)
		return;
	size_t len = strlen(value);
	while (next_address(value, len, pos, &a, &n)) {
		addrset_add(s, value + a, n);
		pos = a + n;
	}
}

static int addrset_has(const struct addrset *s, const char *a, size_t n)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strlen(s->v[i]) != n)
			continue;
		size_t k = 0;
		while (k < n && lower((unsigned char)a[k]) == s->v[i][k])
			k++;
		if (k == n)
			return 1;
	}
	return 0;
}

static void addrset_free(struct addrset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* Local parts of daemons and role addresses that appear in bounce texts but never failed. */
static int daemon_address(const char *a, size_t n)
{
	static const char *const names[] = {"mailer-daemon", "postmaster",   "mailer_daemon",
	                                    "mail-daemon",   "mailerdaemon", "maildaemon",
	                                    "abuse",         "hostmaster",   NULL};
	size_t at = 0;
	while (at < n && a[at] != '@')
		at++;
	for (size_t i = 0; names[i]; i++)
		if (strlen(names[i]) == at && ci_find(a, at, names[i]) == 0)
			return 1;
	return 0;
}

/* ---------------------------------------------------------------- findings */

static char *diag_dup(const char *s, size_t n)
{
	struct bl_buf b;
	bl_buf_init(&b, 0);
	int space = 1;
	for (size_t i = 0; i < n && b.len < DIAG_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			space = 1;
			continue;
		}
		if (space && b.len)
			bl_buf_addc(&b, ' ');
		space = 0;
		bl_buf_addc(&b, (char)c);
	}
	char *r = bl_buf_take(&b);
	size_t len = strlen(r);
	if (len > DIAG_MAX) {
		len = DIAG_MAX;
		while (len > 0 && ((unsigned char)r[len] & 0xC0) == 0x80)
			len--;
		r[len] = '\0';
	}
	return r;
}

static struct bl_bounce_finding *finding_new(struct bl_bounce_report *r, const char *rcpt,
                                             size_t rcpt_len)
{
	r->findings = bl_xreallocarray(r->findings, r->n_findings + 1, sizeof(*r->findings));
	struct bl_bounce_finding *f = &r->findings[r->n_findings++];
	memset(f, 0, sizeof(*f));
	f->recipient = bl_xmalloc(rcpt_len + 1);
	memcpy(f->recipient, rcpt, rcpt_len);
	f->recipient[rcpt_len] = '\0';
	f->diagnostic = bl_xstrdup("");
	f->feedback_type = bl_xstrdup("");
	f->cls = BL_BOUNCE_UNKNOWN;
	f->final = 1;
	snprintf(f->reason, sizeof(f->reason), "undefined");
	return f;
}

/* A recipient field's address: without "rfc822;" (already gone), <>, spaces. */
static void address_span(const char *s, const char **a, size_t *n)
{
	size_t st, len;
	if (s && next_address(s, strlen(s), 0, &st, &len)) {
		*a = s + st;
		*n = len;
		return;
	}
	size_t start;
	*n = s ? bl_trim_span(s, strlen(s), &start) : 0;
	*a = s ? s + start : "";
}

/* The SMTP reply code at the start of @s (after spaces), or the first "NNN " / "NNN-" with
 * N in 4 and 5 that stands alone; 0 when none. */
static int reply_code_of(const char *s)
{
	if (!s)
		return 0;
	for (const char *p = s; *p; p++) {
		if ((p == s || p[-1] == ' ' || p[-1] == '\n' || p[-1] == ':' || p[-1] == '(' ||
		     p[-1] == '"' || p[-1] == ';' || p[-1] == '<' || p[-1] == '[') &&
		    (p[0] == '4' || p[0] == '5') && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' &&
		    p[2] <= '9' && (p[3] == ' ' || p[3] == '-' || p[3] == '\0' || p[3] == '\n')) {
			return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		}
	}
	return 0;
}

/* Fills the class, reason, status and reply code of @f from @status (may be "") and the
 * diagnostic @diag, falling back on @context (more text about the failure) when the
 * diagnostic alone says nothing we know. */
static void classify_into(struct bl_bounce_finding *f, const char *status, const char *diag,
                          const char *context)
{
	char st[BL_BOUNCE_STATUS_MAX] = "";
	if (status && *status)
		bl_bounce_status_from_text(status, st);
	if (!st[0] && diag)
		bl_bounce_status_from_text(diag, st);
	int rc = reply_code_of(diag);
	f->cls = bl_bounce_classify(st, rc, diag, f->reason);
	if (strcmp(f->reason, "undefined") == 0 && context && *context) {
		char st2[BL_BOUNCE_STATUS_MAX] = "";
		if (!st[0])
			bl_bounce_status_from_text(context, st2);
		if (!rc)
			rc = reply_code_of(context);
		f->cls = bl_bounce_classify(st[0] ? st : st2, rc, context, f->reason);
		if (!st[0])
			memcpy(st, st2, sizeof(st));
	}
	memcpy(f->status, st, sizeof(st));
	f->reply_code = rc;
}

/* Whether the reply in @diag is about an address of @ex (our sender, the report's own address)
 * other than the recipient @rcpt: the address in angle brackets right after the reply code or
 * status ("550 5.7.1 <sender>... Access denied", "550-'5.7.1 <sender>...", "501 <sender>...
 * no access"), which is how Sendmail, Postfix and most servers name the address a reply
 * refuses. */
static int reply_names_sender(const char *diag, const struct addrset *ex, const char *rcpt)
{
	size_t dl = strlen(diag), rl = strlen(rcpt);
	for (size_t i = 0; i < dl; i++) {
		if (diag[i] != '<')
			continue;
		/* before it, past spaces and quotes: a status (d.d.d) or a reply code (ddd, ddd-)
		 */
		size_t b = i;
		while (b > 0 && (diag[b - 1] == ' ' || diag[b - 1] == '\'' || diag[b - 1] == '"'))
			b--;
		size_t e = b;
		while (b > 0 && ((diag[b - 1] >= '0' && diag[b - 1] <= '9') || diag[b - 1] == '.' ||
		                 diag[b - 1] == '-'))
			b--;
		if (e - b < 3 || (b > 0 && !strchr(" ;(:'\"", diag[b - 1])))
			continue;
		if (!(diag[b] == '4' || diag[b] == '5') ||
		    !(diag[b + 1] == '.' || (diag[b + 1] >= '0' && diag[b + 1] <= '9')))
			continue;
		const char *gt = memchr(diag + i, '>', dl - i);
		size_t a, n;
		if (!gt || !next_address(diag, (size_t)(gt - diag), i + 1, &a, &n) || a != i + 1 ||
		    a + n != (size_t)(gt - diag))
			continue;
		if (!addrset_has(ex, diag + a, n))
			continue;
		size_t k = 0;
		while (n == rl && k < n &&
		       lower((unsigned char)diag[a + k]) == lower((unsigned char)rcpt[k]))
			k++;
		if (n != rl || k < n)
			return 1; /* not the recipient itself (a message to oneself) */
	}
	return 0;
}

/* A refusal whose reply names our sender (reply_names_sender) refused the sender, whatever
 * it says about an address or a mailbox: "rejected", class block. */
static void sender_refusal(struct bl_bounce_finding *f, const struct addrset *ex)
{
	if (f->cls == BL_BOUNCE_BLOCK || f->cls == BL_BOUNCE_COMPLAINT ||
	    f->cls == BL_BOUNCE_AUTOREPLY || strcmp(f->reason, "delivered") == 0)
		return;
	if (reply_names_sender(f->diagnostic, ex, f->recipient)) {
		f->cls = BL_BOUNCE_BLOCK;
		snprintf(f->reason, sizeof(f->reason), "rejected");
	}
}

/* ---------------------------------------------------------------- header blocks */

/* The value of header @name in the header block @h (LF line ends; folded lines joined),
 * malloc'd, or NULL. */
static char *block_header(const char *h, const char *name)
{
	size_t k = strlen(name);
	char low[64];
	if (k >= sizeof(low))
		return NULL;
	for (size_t i = 0; i <= k; i++)
		low[i] = (char)lower((unsigned char)name[i]);
	const char *p = h;
	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		if (ll > k && p[k] == ':' && ci_find(p, k, low) == 0) {
			struct bl_buf b;
			bl_buf_init(&b, 0);
			bl_buf_add(&b, p + k + 1, ll - k - 1);
			while (eol && (eol[1] == ' ' || eol[1] == '\t')) {
				const char *q = eol + 1;
				eol = strchr(q, '\n');
				bl_buf_add(&b, q, eol ? (size_t)(eol - q) : strlen(q));
			}
			char *v = bl_trim_dup(bl_buf_str(&b));
			bl_buf_finish(&b);
			return v;
		}
		p = eol ? eol + 1 : NULL;
	}
	return NULL;
}

/* A line that looks like a header field: a name of letters, digits and '-' then ':'. */
static int header_line(const char *p, size_t ll)
{
	size_t i = 0;
	while (i < ll && ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
	                  (p[i] >= '0' && p[i] <= '9') || p[i] == '-'))
		i++;
	return i > 0 && i < ll && p[i] == ':';
}

/* ---------------------------------------------------------------- the text */

/* Lines that announce the returned original in a bounce's text. */
static const char *const separator_phrases[] = {"original message",
                                                "copy of the message",
                                                "copy of your message",
                                                "message headers follow",
                                                "returned message",
                                                "undelivered message",
                                                "headers of the original",
                                                "original mail",
                                                "message follows",
                                                "below this line",
                                                "text of the message",
                                                "original headers",
                                                "unsent message",
                                                "returned mail follows",
                                                "rfc822",
                                                "headers follow",
                                                "message header follows",
                                                "original e-mail",
                                                "message text follows",
                                                NULL};

/* Where the returned original begins in @t (offset of the separator line or of the header
 * block that starts it), and where its header block begins in *@hdr (or -1). */
static size_t find_cut(const char *t, long *hdr)
{
	size_t n = strlen(t);
	*hdr = -1;
	/* the text lowercased once; the next offset where a separator phrase occurs, found with
	   strstr and sought again only once the lines pass it */
	char *low = bl_xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		low[i] = (char)lower((unsigned char)t[i]);
	low[n] = '\0';
	size_t next_hit = 0;
	int hit_known = 0;
	const char *p = t;
	while (p < t + n) {
		const char *eol = memchr(p, '\n', (size_t)(t + n - p));
		size_t ll = eol ? (size_t)(eol - p) : (size_t)(t + n - p);
		size_t st;
		size_t tl = bl_trim_span(p, ll, &st);
		const char *q = p + st;
		if (!hit_known || next_hit < (size_t)(p - t)) {
			next_hit = n;
			for (size_t i = 0; separator_phrases[i]; i++) {
				const char *h = strstr(low + (p - t), separator_phrases[i]);
				if (h && (size_t)(h - low) < next_hit)
					next_hit = (size_t)(h - low);
			}
			hit_known = 1;
		}
		int has_phrase = next_hit < (size_t)(p - t) + ll;
		int decorated =
		    tl > 0 && (q[0] == '-' || q[0] == '=' || q[0] == '*' || q[0] == '_' ||
		               q[0] == '<' || q[0] == '[' || q[0] == '|');
		/* "The original message was received at ..." opens Sendmail's text, "Please do not
		   resend your original message" is advice, "did not receive a copy of your
		   message" introduces the failed addresses, Postfix's "delete your own text from
		   the attached returned message" is advice: no separators */
		int sep = tl > 0 && (decorated || tl < 70) && has_phrase &&
		          ci_find(q, tl, "message was received") < 0 &&
		          ci_find(q, tl, "resend") < 0 && ci_find(q, tl, "not receive") < 0 &&
		          ci_find(q, tl, "mts-id") < 0 && ci_find(q, tl, "own text") < 0;
		/* "... of your original message follow:" glued to the first quoted line */
		if (!sep && tl > 0 && has_phrase &&
		    (ci_find(q, tl, "follow:") >= 0 || ci_find(q, tl, "follows:") >= 0))
			sep = 1;
		int hdr_start = !sep && (ci_prefix(p, ll, "return-path:") ||
		                         ci_prefix(p, ll, "received: from") ||
		                         ci_prefix(p, ll, "received: by"));
		if (hdr_start) {
			/* at least two more header lines must follow */
			const char *r = eol ? eol + 1 : t + n;
			int more = 0;
			for (int k = 0; k < 6 && r < t + n; k++) {
				const char *e = memchr(r, '\n', (size_t)(t + n - r));
				size_t rl = e ? (size_t)(e - r) : (size_t)(t + n - r);
				if (header_line(r, rl))
					more++;
				else if (rl == 0)
					break;
				r = e ? e + 1 : t + n;
			}
			if (more < 2)
				hdr_start = 0;
		}
		if (sep || hdr_start) {
			size_t cut = (size_t)(p - t);
			/* the header block: the first header line within the next few lines */
			const char *r = hdr_start ? p : (eol ? eol + 1 : t + n);
			for (int k = 0; k < 4 && r < t + n; k++) {
				const char *e = memchr(r, '\n', (size_t)(t + n - r));
				size_t rl = e ? (size_t)(e - r) : (size_t)(t + n - r);
				if (header_line(r, rl)) {
					*hdr = r - t;
					break;
				}
				r = e ? e + 1 : t + n;
			}
			free(low);
			return cut;
		}
		p = eol ? eol + 1 : t + n;
	}
	free(low);
	return n;
}

/* The header block starting at @h: up to the first empty line. */
static char *header_block_dup(const char *h)
{
	const char *end = strstr(h, "\n\n");
	size_t n = end ? (size_t)(end - h) + 1 : strlen(h);
	if (n > 64 * 1024)
		n = 64 * 1024;
	char *r = bl_xmalloc(n + 1);
	memcpy(r, h, n);
	r[n] = '\0';
	return r;
}

/* Header names whose lines in a bounce text never name the failed recipient. */
static int skipped_line(const char *p, size_t ll)
{
	static const char *const names[] = {
	    "received:",  "message-id:",   "from:",       "return-path:", "reply-to:",
	    "sender:",    "in-reply-to:",  "references:", "date:",        "subject:",
	    "mail from:", "envelope-from", NULL};
	/* "For further assistance, please contact <postmaster@...>" */
	if (ci_find(p, ll, "please contact") >= 0 || ci_find(p, ll, "further assistance") >= 0)
		return 1;
	size_t st;
	size_t tl = bl_trim_span(p, ll, &st);
	for (size_t i = 0; names[i]; i++)
		if (ci_prefix(p + st, tl, names[i]))
			return 1;
	return 0;
}

static const char *const delay_phrases[] = {"will retry",
                                            "will be retried",
                                            "will continue to try",
                                            "will keep trying",
                                            "delivery attempts will continue",
                                            "has not yet been delivered",
                                            "not yet been delivered",
                                            "still trying",
                                            "this is a warning",
                                            "warning message only",
                                            "is a delay",
                                            "delivery is delayed",
                                            "delivery has been delayed",
                                            "delivery delayed",
                                            "delayed delivery",
                                            "message is delayed",
                                            "continue trying",
                                            "you do not need to resend",
                                            "will try again",
                                            "trying to deliver",
                                            "could not be delivered for",
                                            "not been delivered for",
                                            "try again for",
                                            NULL};

/* A retry announced in so many words: outweighs a generic "could not be delivered". */
static const char *const retry_phrases[] = {"will retry",
                                            "will be retried",
                                            "will continue to try",
                                            "will keep trying",
                                            "attempts will continue",
                                            "still trying",
                                            "will try again",
                                            "continue trying",
                                            "you do not need to resend",
                                            "do not resend",
                                            NULL};

/* A final failure said outright. */
static const char *const permanent_phrases[] = {"permanent",          "given up",    "giving up",
                                                "failed permanently", "fatal error", NULL};

/* Wording of every failure notice, final or not. */
static const char *const failed_phrases[] = {
    "could not be delivered to", "undeliverable",       "has failed", "have failed",
    "delivery failed",           "delivery has failed", NULL};

/* Whether a bounce text is a delay warning rather than a final failure: a delay subject
 * ("Delayed Mail", "Warning: message still being retried"), or delay wording in the text
 * that is not outweighed by a final failure said outright, or by generic failure wording
 * without an announced retry. A "Warning:" subject alone is not enough (MDaemon titles
 * its final "User unknown!" notices so). */
static int text_is_delay(const char *text, size_t n, const char *subject)
{
	int subj_delay = subject && (ci_has(subject, "delay") || ci_has(subject, "(delay)") ||
	                             ci_has(subject, "still being retried"));
	int text_delay = ci_any(text, n, delay_phrases);
	if (subj_delay)
		return 1;
	if (!text_delay)
		return 0;
	if (ci_any(text, n, permanent_phrases))
		return 0;
	if (ci_any(text, n, failed_phrases) && !ci_any(text, n, retry_phrases) &&
	    !(subject && ci_has(subject, "warning")))
		return 0;
	return 1;
}

struct cand {
	size_t start, len; /* the address in the text */
	size_t line;       /* offset of its line */
};

/* A Google Groups refusal (the group's address failed, in one of many languages): the
 * poster may not post, so the list's sender was refused. */
static void group_refusals(struct bl_bounce_report *out)
{
	for (size_t i = 0; i < out->n_findings; i++) {
		struct bl_bounce_finding *f = &out->findings[i];
		size_t n = strlen(f->recipient);
		if (strcmp(f->reason, "undefined") == 0 && n > 17 &&
		    bl_strcaseeq(f->recipient + n - 17, "@googlegroups.com")) {
			f->cls = BL_BOUNCE_BLOCK;
			snprintf(f->reason, sizeof(f->reason), "rejected");
		}
	}
}

/* What the human-readable part says about the address @a (@an bytes) when a DSN record
 * carries no Diagnostic-Code (OpenSMTPD, some gateways write "addr: 550 5.1.1 ..." there),
 * or that Exim's text says about an address of X-Failed-Recipients: from the address to
 * the next empty line or the next line that names another address,
 * whitespace folded, malloc'd; "" when the text does not name it. */
static char *text_line_about(const char *text, size_t cut, const char *a, size_t an,
                             const struct addrset *ex)
{
	if (an == 0 || an > ADDR_MAX)
		return bl_xstrdup("");
	char needle[ADDR_MAX + 1];
	for (size_t i = 0; i < an; i++)
		needle[i] = (char)lower((unsigned char)a[i]);
	needle[an] = '\0';
	long at = ci_find(text, cut, needle);
	if (at < 0)
		return bl_xstrdup("");
	size_t from = (size_t)at, end = from;
	const char *eol = memchr(text + from, '\n', cut - from);
	end = eol ? (size_t)(eol - text) : cut;
	while (end < cut) {
		/* the next line: part of this one unless it is empty or names an address */
		size_t ls = end + 1;
		const char *e = ls < cut ? memchr(text + ls, '\n', cut - ls) : NULL;
		size_t le = e ? (size_t)(e - text) : cut;
		size_t st, ad, adn;
		if (ls >= cut || bl_trim_span(text + ls, le - ls, &st) == 0 ||
		    end - from > DIAG_MAX)
			break;
		/* a line that names another address begins that address's part; our sender's or
		   the report's own address is part of the reply ("550 5.2.0 <sender> From:
		   Domain is invalid") */
		int other = 0;
		for (size_t pos = 0; next_address(text + ls, le - ls, pos, &ad, &adn);
		     pos = ad + adn)
			if ((adn != an || ci_find(text + ls + ad, adn, needle) != 0) &&
			    !addrset_has(ex, text + ls + ad, adn))
				other = 1;
		if (other)
			break;
		end = le;
	}
	return diag_dup(text + from, end - from);
}

/* Whether only spaces and quoting ('<', '>', '"', '\'', '*', '-', ':') come between the start
 * of the line at @line and the address at @start. */
static int opens_line(const char *text, size_t line, size_t start)
{
	for (size_t i = line; i < start; i++)
		if (!strchr(" \t<>\"'*-:", text[i]))
			return 0;
	return 1;
}

/* Where the line that introduces the failed addresses starts ("did not reach the following
 * recipient(s):", "The following address(es) failed:"), or @cut when there is none. */
static size_t intro_line(const char *text, size_t cut)
{
	static const char *const intros[] = {"following recipient",   "following address",
	                                     "following destination", "address(es) failed",
	                                     "addresses failed",      NULL};
	const char *p = text;
	while (p < text + cut) {
		const char *eol = memchr(p, '\n', (size_t)(text + cut - p));
		size_t ll = eol ? (size_t)(eol - p) : (size_t)(text + cut - p);
		if (ci_any(p, ll, intros))
			return (size_t)(p - text);
		p = eol ? eol + 1 : text + cut;
	}
	return cut;
}

/* Whether @diag holds nothing but the address @a (@an bytes) with quoting and punctuation
 * ("<a@b>", "a@b>:"): no word of its own. */
static int says_nothing_more(const char *diag, const char *a, size_t an)
{
	size_t dl = strlen(diag);
	for (size_t i = 0; i < dl; i++) {
		if (an && i + an <= dl) {
			size_t k = 0;
			while (k < an &&
			       lower((unsigned char)diag[i + k]) == lower((unsigned char)a[k]))
				k++;
			if (k == an) {
				i += an - 1;
				continue;
			}
		}
		unsigned char c = (unsigned char)diag[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c >= 0x80)
			return 0;
	}
	return 1;
}

/* Whether the RFC 3463 status in @status is missing or has a generic detail ("5.5.0",
 * "5.0.0"), which says less than the text might. */
static int generic_status(const char *status)
{
	char st[BL_BOUNCE_STATUS_MAX];
	if (!status || !bl_bounce_status_from_text(status, st))
		return 1;
	size_t n = strlen(st);
	return n >= 2 && st[n - 1] == '0' && st[n - 2] == '.';
}

/* Sendmail's transcript names an address the remote server answered unexpectedly as "554
 * <a@b>... Remote protocol error" and quotes that answer above it, inside the block "While
 * talking to HOST:": the command sent (">>> MAIL From:<...>") and the reply ("<<< 550 ...").
 * When the line at @line says "protocol error" and such lines precede it, returns them and
 * the line itself, whitespace folded, malloc'd (Sendmail's own lines between them, such as
 * "421 ... Deferred: Connection reset", are left out: the reply says why); else NULL. */
static char *transcript_reply(const char *text, size_t cut, size_t line)
{
	const char *eol = memchr(text + line, '\n', cut - line);
	size_t end = eol ? (size_t)(eol - text) : cut;
	if (ci_find(text + line, end - line, "protocol error") < 0)
		return NULL;
	size_t first = line; /* the block's first line */
	while (first > 0) {
		size_t ls = first - 1; /* the previous line: [ls, first - 1) */
		while (ls > 0 && text[ls - 1] != '\n')
			ls--;
		size_t ll = first - 1 - ls;
		if (ll == 0 || ci_find(text + ls, ll, "while talking to") >= 0)
			break;
		first = ls;
	}
	struct bl_buf b;
	bl_buf_init(&b, 0);
	for (size_t p = first; p < line;) {
		const char *e = memchr(text + p, '\n', line - p);
		size_t le = e ? (size_t)(e - text) : line;
		if (ci_prefix(text + p, le - p, ">>> ") || ci_prefix(text + p, le - p, "<<< ")) {
			bl_buf_add(&b, text + p, le - p);
			bl_buf_addc(&b, '\n');
		}
		p = le + 1;
	}
	if (b.len == 0) {
		bl_buf_finish(&b);
		return NULL;
	}
	bl_buf_add(&b, text + line, end - line);
	char *r = diag_dup(bl_buf_str(&b), b.len);
	bl_buf_finish(&b);
	return r;
}

/* Adds text-heuristic findings to @out from @text[0..@cut). Returns how many. */
static size_t text_findings(struct bl_bounce_report *out, const struct bl_report *rep,
                            const char *text, size_t cut, const struct addrset *ex,
                            const char *failed_hdr, int delay)
{
	struct cand c[MAX_TEXT_RCPTS];
	size_t nc = 0;
	struct addrset seen = {0};

	/* X-Failed-Recipients (Exim) names them outright */
	if (failed_hdr) {
		size_t pos = 0, a, n, fl = strlen(failed_hdr);
		while (nc < MAX_TEXT_RCPTS && next_address(failed_hdr, fl, pos, &a, &n)) {
			pos = a + n;
			if (addrset_has(&seen, failed_hdr + a, n))
				continue;
			addrset_add(&seen, failed_hdr + a, n);
			/* its place in the text, for the diagnostic */
			char *addr = bl_xmalloc(n + 1);
			memcpy(addr, failed_hdr + a, n);
			addr[n] = '\0';
			bl_ascii_lower(addr);
			long at = ci_find(text, cut, addr);
			free(addr);
			c[nc].start = a;
			c[nc].len = n;
			c[nc].line = at >= 0 ? (size_t)at : 0;
			nc++;
		}
		for (size_t i = 0; i < nc; i++) {
			struct bl_bounce_finding *f =
			    finding_new(out, failed_hdr + c[i].start, c[i].len);
			size_t from = c[i].line, to = cut;
			for (size_t j = 0; j < nc; j++)
				if (c[j].line > from && c[j].line < to)
					to = c[j].line;
			free(f->diagnostic);
			f->diagnostic =
			    text_line_about(text, cut, failed_hdr + c[i].start, c[i].len, ex);
			if (!*f->diagnostic) {
				free(f->diagnostic);
				f->diagnostic = diag_dup(text + from, to - from);
			}
			char *ctx = diag_dup(text, cut);
			classify_into(f, "", f->diagnostic, ctx);
			free(ctx);
			sender_refusal(f, ex);
			f->final = !delay;
		}
		addrset_free(&seen);
		group_refusals(out);
		if (nc)
			return nc;
	}

	const char *p = text;
	while (p < text + cut && nc < MAX_TEXT_RCPTS) {
		const char *eol = memchr(p, '\n', (size_t)(text + cut - p));
		size_t ll = eol ? (size_t)(eol - p) : (size_t)(text + cut - p);
		if (!skipped_line(p, ll)) {
			size_t pos = 0, a, n;
			while (nc < MAX_TEXT_RCPTS && next_address(p, ll, pos, &a, &n)) {
				pos = a + n;
				/* inside a URL or a message id: "...?x=a@b", "<id@host>" after "id"
				 */
				if (a > 0 &&
				    (p[a - 1] == '=' || p[a - 1] == '/' || p[a - 1] == '?') &&
				    !(a >= 5 && ci_find(p + a - 5, 5, "smtp=") == 0))
					continue;
				if (addrset_has(ex, p + a, n) || daemon_address(p + a, n) ||
				    addrset_has(&seen, p + a, n))
					continue;
				addrset_add(&seen, p + a, n);
				c[nc].start = (size_t)(p - text) + a;
				c[nc].len = n;
				c[nc].line = (size_t)(p - text);
				nc++;
			}
		}
		p = eol ? eol + 1 : text + cut;
	}
	addrset_free(&seen);
	/* "Your message To: <list> ... did not reach the following recipient(s):": when a line
	   introduces the failed addresses, the addresses before it are the original's */
	size_t intro = intro_line(text, cut);
	if (intro < cut) {
		size_t k = 0;
		for (size_t i = 0; i < nc; i++)
			if (c[i].line >= intro)
				c[k++] = c[i];
		if (k > 0)
			nc = k;
	}
	/* an address that opens its line ("<a@b>: ...", "a@b ... User unknown", "> a@b") is how
	   every MTA lists failures; when some do, addresses inside sentences ("please send
	   mail to <postmaster@...>", in any language) are not failures */
	size_t heads = 0;
	for (size_t i = 0; i < nc; i++)
		if (opens_line(text, c[i].line, c[i].start))
			heads++;
	if (heads > 0 && heads < nc) {
		size_t k = 0;
		for (size_t i = 0; i < nc; i++)
			if (opens_line(text, c[i].line, c[i].start))
				c[k++] = c[i];
		nc = k;
	}
	if (nc == 0)
		return 0;
	char *ctx = diag_dup(text, cut);
	for (size_t i = 0; i < nc; i++) {
		struct bl_bounce_finding *f = finding_new(out, text + c[i].start, c[i].len);
		size_t from = c[i].line, to = cut;
		for (size_t j = i + 1; j < nc; j++)
			if (c[j].line > from) {
				to = c[j].line;
				break;
			}
		free(f->diagnostic);
		/* Sendmail's "Remote protocol error": the reply quoted above says why */
		f->diagnostic = transcript_reply(text, cut, c[i].line);
		if (!f->diagnostic)
			f->diagnostic = diag_dup(text + from, to - from);
		classify_into(f, "", f->diagnostic, ctx);
		sender_refusal(f, ex);
		f->final = !delay;
		if (!f->final && f->cls == BL_BOUNCE_HARD)
			f->cls = BL_BOUNCE_SOFT;
	}
	free(ctx);
	group_refusals(out);
	(void)rep;
	return nc;
}

/* ---------------------------------------------------------------- kinds */

static const char *const bounce_subjects[] = {"undeliver",
                                              "undelivered",
                                              "delivery status",
                                              "delivery failure",
                                              "delivery failed",
                                              "failure notice",
                                              "returned mail",
                                              "mail delivery",
                                              "non-delivery",
                                              "nondeliver",
                                              "non delivery",
                                              "delivery notification",
                                              "could not be delivered",
                                              "not delivered",
                                              "rejected",
                                              "returned to sender",
                                              "delivery problem",
                                              "delivery report",
                                              "mail system error",
                                              "bounce",
                                              "failed delivery",
                                              "delivery error",
                                              "message delayed",
                                              "delayed mail",
                                              "warning: could not",
                                              "delivery has failed",
                                              "error sending",
                                              "unable to deliver",
                                              "mail failure",
                                              "problem delivering",
                                              "delivery incomplete",
                                              "mail could not",
                                              "nicht zustellbar",
                                              "unzustellbar",
                                              "no se puede",
                                              "non recapitabile",
                                              "user unknown",
                                              "message not delivered",
                                              "returned",
                                              "failed",
                                              NULL};

static const char *const bounce_phrases[] = {"could not be delivered",
                                             "couldn't be delivered",
                                             "undeliverable",
                                             "delivery has failed",
                                             "delivery failed",
                                             "permanent error",
                                             "failed permanently",
                                             "following address",
                                             "wasn't able to deliver",
                                             "was not able to deliver",
                                             "unable to deliver",
                                             "delivery to the following",
                                             "did not reach",
                                             "returned to the sender",
                                             "could not deliver",
                                             "message was not delivered",
                                             "not be delivered",
                                             "user unknown",
                                             "no such user",
                                             "delivery failure",
                                             "transcript of session",
                                             "mail delivery",
                                             "failed to deliver",
                                             "recipient address rejected",
                                             "error delivering",
                                             "permanent fatal",
                                             "delivery status notification",
                                             "was undeliverable",
                                             "undelivered",
                                             "temporary failure",
                                             "has not yet been delivered",
                                             "delivery attempts",
                                             "have not been delivered",
                                             "mailbox unavailable",
                                             "unknown user",
                                             "rejected",
                                             NULL};

static const char *const autoreply_subjects[] = {"auto:",
                                                 "automatic reply",
                                                 "autoreply",
                                                 "auto reply",
                                                 "auto-reply",
                                                 "out of office",
                                                 "out of the office",
                                                 "vacation",
                                                 "away from",
                                                 "abwesenheit",
                                                 "réponse automatique",
                                                 "absence",
                                                 "automatische antwort",
                                                 "on leave",
                                                 "auto response",
                                                 "autoresponse",
                                                 "auto-response",
                                                 "respuesta automática",
                                                 "i am away",
                                                 "i'm away",
                                                 NULL};

static int from_daemon(const char *from, const char *from_hdr)
{
	if (from && *from && daemon_address(from, strlen(from)))
		return 1;
	if (!from_hdr)
		return 0;
	return ci_has(from_hdr, "mailer-daemon") || ci_has(from_hdr, "mail delivery") ||
	       ci_has(from_hdr, "postmaster") || ci_has(from_hdr, "mailer_daemon") ||
	       ci_has(from_hdr, "delivery subsystem") || ci_has(from_hdr, "mail administrator") ||
	       ci_has(from_hdr, "mailmaster") || ci_has(from_hdr, "mdaemon");
}

/* RFC 3834 §5 and the common non-standard auto-reply markers. */
static int autoreply_headers(const struct bl_report *rep)
{
	const char *as = bl_report_header(rep, "Auto-Submitted");
	if (as && ci_find(as, strlen(as), "auto-replied") == 0)
		return 1;
	if (bl_report_header(rep, "X-Autoreply") || bl_report_header(rep, "X-Autorespond") ||
	    bl_report_header(rep, "X-Autoresponder") || bl_report_header(rep, "X-Vacation"))
		return 1;
	const char *prec = bl_report_header(rep, "Precedence");
	if (prec && ci_has(prec, "auto_reply"))
		return 1;
	const char *ag = bl_report_header(rep, "X-Autogenerated");
	if (ag && ci_has(ag, "reply"))
		return 1;
	return 0;
}

/* Strips the surrounding <> of a Message-ID in place. */
static char *strip_angle(char *s)
{
	if (!s)
		return NULL;
	size_t st, n = bl_trim_span(s, strlen(s), &st);
	char *v = s + st;
	if (n >= 2 && v[0] == '<' && v[n - 1] == '>') {
		v++;
		n -= 2;
	}
	memmove(s, v, n);
	s[n] = '\0';
	return s;
}

/* envelope_to from the headers: the first bounces+... address, else the first address. */
static char *envelope_from_headers(const struct bl_report *rep)
{
	static const char *const names[] = {"X-Original-To", "Delivered-To", "Envelope-To",
	                                    "X-Envelope-To", "To",           NULL};
	/* without a bounces+ address, the To (the X-Original-To of a forwarded report may
	   name the failed recipient instead) */
	const char *to = bl_report_header(rep, "To");
	char *any = NULL;
	for (size_t i = 0; names[i]; i++) {
		const char *v = bl_report_header(rep, names[i]);
		if (!v)
			continue;
		size_t pos = 0, a, n, len = strlen(v);
		while (next_address(v, len, pos, &a, &n)) {
			pos = a + n;
			if (n > 8 && ci_find(v + a, 8, "bounces+") == 0) {
				free(any);
				char *r = bl_xmalloc(n + 1);
				memcpy(r, v + a, n);
				r[n] = '\0';
				return r;
			}
			if (!any && to && v == to) {
				any = bl_xmalloc(n + 1);
				memcpy(any, v + a, n);
				any[n] = '\0';
			}
		}
	}
	return any ? any : bl_xstrdup("");
}

/* The key: SHA-256 of "mail:" + the Message-ID, else of "mail-bytes:" + the bytes with CRLF
 * and CR made LF. The prefix keeps mail reports apart from webhook events, whose keys hash
 * "PROVIDER:" + the provider's event id (webhook.c): Message-ID <777> is not Postmark's 777. */
static void report_key(const struct bl_report *rep, const char *msg, size_t len, char *key)
{
	static const char mail[] = "mail:", bytes[] = "mail-bytes:";
	const char *mid = bl_report_header(rep, "Message-ID");
	if (mid) {
		char *m = strip_angle(bl_xstrdup(mid));
		if (*m) {
			size_t n = strlen(m);
			char *in = bl_xmalloc(sizeof(mail) - 1 + n);
			memcpy(in, mail, sizeof(mail) - 1);
			memcpy(in + sizeof(mail) - 1, m, n);
			char hex[BL_HASH_HEX];
			bl_sha256_hex(in, sizeof(mail) - 1 + n, hex);
			memcpy(key, hex, BL_REPORT_KEY_MAX);
			free(in);
			free(m);
			return;
		}
		free(m);
	}
	char *norm = bl_xmalloc(sizeof(bytes) - 1 + len + 1);
	memcpy(norm, bytes, sizeof(bytes) - 1);
	size_t o = sizeof(bytes) - 1;
	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '\r') {
			norm[o++] = '\n';
			if (i + 1 < len && msg[i + 1] == '\n')
				i++;
		} else {
			norm[o++] = msg[i];
		}
	}
	char hex[BL_HASH_HEX];
	bl_sha256_hex(norm, o, hex);
	memcpy(key, hex, BL_REPORT_KEY_MAX);
	free(norm);
}

/* A header value anywhere in the raw message (a provider's complaint that forwards the
 * original inline): the rest of the line after "@name:" (@name lowercase), malloc'd, or
 * NULL. */
static char *raw_header(const char *msg, size_t len, const char *name)
{
	size_t k = strlen(name);
	for (size_t p = 0; p < len;) {
		const char *nl = memchr(msg + p, '\n', len - p);
		const char *cr = memchr(msg + p, '\r', nl ? (size_t)(nl - msg) - p : len - p);
		size_t e = cr ? (size_t)(cr - msg) : nl ? (size_t)(nl - msg) : len;
		if (e - p > k && msg[p + k] == ':' && ci_prefix(msg + p, e - p, name)) {
			char *v = bl_xmalloc(e - p - k);
			memcpy(v, msg + p + k + 1, e - p - k - 1);
			v[e - p - k - 1] = '\0';
			char *t = bl_trim_dup(v);
			free(v);
			return t;
		}
		p = e + 1;
	}
	return NULL;
}

/* A complaint finding: the feedback type (RFC 5965 §3.1; "abuse" for a provider's non-ARF
 * complaint) and its class; "not-spam" is no complaint. */
static void set_complaint(struct bl_bounce_finding *f, const struct bl_report *rep,
                          const char *text, size_t cut)
{
	const char *ft = rep->arf.present && rep->arf.feedback_type && *rep->arf.feedback_type
	                     ? rep->arf.feedback_type
	                     : "abuse";
	free(f->feedback_type);
	f->feedback_type = bl_xstrdup(ft);
	bl_ascii_lower(f->feedback_type);
	f->cls =
	    strcmp(f->feedback_type, "not-spam") == 0 ? BL_BOUNCE_UNKNOWN : BL_BOUNCE_COMPLAINT;
	snprintf(f->reason, sizeof(f->reason), "feedback");
	free(f->diagnostic);
	f->diagnostic = diag_dup(text, cut);
}

/* A string member of a JSON object, or "". */
static const char *jstr(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? v : "";
}

/*
 * An Amazon SES notification (Bounce, Complaint, Delivery) mailed by SNS to an email
 * endpoint: the body is the notification's JSON, its long lines broken by SNS with
 * "!<newline><space>". Fills @out and returns 1 when @text is one, else 0.
 */
static int ses_notification(const char *text, struct bl_bounce_report *out)
{
	size_t st;
	size_t n = bl_trim_span(text, strlen(text), &st);
	if (n < 20 || text[st] != '{' || ci_find(text + st, n, "\"notificationtype\"") < 0)
		return 0;
	char *j = bl_xmalloc(n + 1);
	size_t o = 0;
	for (size_t i = st; i < st + n; i++) {
		if (text[i] == '!' && i + 2 < st + n && text[i + 1] == '\n' && text[i + 2] == ' ') {
			i += 2;
			continue;
		}
		j[o++] = text[i];
	}
	j[o] = '\0';
	json_error_t err;
	json_t *root = json_loads(j, JSON_DISABLE_EOF_CHECK, &err); /* the SNS footer follows */
	free(j);
	if (!json_is_object(root)) {
		json_decref(root);
		return 0;
	}
	const char *type = jstr(root, "notificationType");
	json_t *mail = json_object_get(root, "mail");
	const char *mid = jstr(json_object_get(mail, "commonHeaders"), "messageId");
	if (*mid) {
		free(out->original_message_id);
		out->original_message_id = strip_angle(bl_xstrdup(mid));
	}
	int done = 1;
	size_t i;
	json_t *r;
	if (strcmp(type, "Bounce") == 0) {
		json_t *b = json_object_get(root, "bounce");
		int transient = strcmp(jstr(b, "bounceType"), "Permanent") != 0;
		out->kind = BL_REPORT_KIND_DSN;
		json_array_foreach(json_object_get(b, "bouncedRecipients"), i, r)
		{
			const char *a = jstr(r, "emailAddress");
			struct bl_bounce_finding *f = finding_new(out, a, strlen(a));
			const char *dc = jstr(r, "diagnosticCode");
			free(f->diagnostic);
			f->diagnostic = diag_dup(dc, strlen(dc));
			classify_into(f, jstr(r, "status"), f->diagnostic, NULL);
			if (transient && f->cls == BL_BOUNCE_HARD)
				f->cls = BL_BOUNCE_SOFT;
		}
	} else if (strcmp(type, "Complaint") == 0) {
		json_t *c = json_object_get(root, "complaint");
		const char *ft = jstr(c, "complaintFeedbackType");
		out->kind = BL_REPORT_KIND_ARF;
		json_array_foreach(json_object_get(c, "complainedRecipients"), i, r)
		{
			const char *a = jstr(r, "emailAddress");
			struct bl_bounce_finding *f = finding_new(out, a, strlen(a));
			free(f->feedback_type);
			f->feedback_type = bl_xstrdup(*ft ? ft : "abuse");
			bl_ascii_lower(f->feedback_type);
			f->cls = strcmp(f->feedback_type, "not-spam") == 0 ? BL_BOUNCE_UNKNOWN
			                                                   : BL_BOUNCE_COMPLAINT;
			snprintf(f->reason, sizeof(f->reason), "feedback");
		}
	} else if (strcmp(type, "Delivery") == 0) {
		json_t *d = json_object_get(root, "delivery");
		const char *resp = jstr(d, "smtpResponse");
		out->kind = BL_REPORT_KIND_DSN;
		json_array_foreach(json_object_get(d, "recipients"), i, r)
		{
			const char *a = json_string_value(r);
			if (!a)
				continue;
			struct bl_bounce_finding *f = finding_new(out, a, strlen(a));
			free(f->diagnostic);
			f->diagnostic = diag_dup(resp, strlen(resp));
			f->cls = BL_BOUNCE_UNKNOWN;
			snprintf(f->reason, sizeof(f->reason), "delivered");
		}
	} else {
		done = 0;
	}
	json_decref(root);
	return done && out->n_findings > 0;
}

/* bl_bounce_analyze without the look into a forwarded report; *@weak is set when nothing
 * better than the original's To (or nothing at all) named a failed recipient. */
static int analyze(const char *msg, size_t len, const char *envelope_to,
                   struct bl_bounce_report *out, struct bl_diag *d, int *weak)
{
	*weak = 0;
	memset(out, 0, sizeof(*out));
	struct bl_report rep;
	int rc = bl_report_parse(msg, len, &rep, d);
	if (rc < 0)
		return rc;

	out->kind = BL_REPORT_KIND_OTHER;
	report_key(&rep, msg, len, out->key);
	const char *subj = bl_report_header(&rep, "Subject");
	out->subject = bl_xstrdup(subj ? subj : "");
	const char *from_hdr = bl_report_header(&rep, "From");
	out->from = first_address(from_hdr);
	out->envelope_to =
	    envelope_to && *envelope_to ? bl_xstrdup(envelope_to) : envelope_from_headers(&rep);

	/* the returned original's headers: from the parser, else after a separator in the text */
	const char *text = rep.text ? rep.text : "";
	long hdr_at;
	size_t cut = find_cut(text, &hdr_at);
	char *orig = NULL;
	if (rep.original_headers && *rep.original_headers)
		orig = bl_xstrdup(rep.original_headers);
	else if (hdr_at >= 0)
		orig = header_block_dup(text + hdr_at);
	else
		orig = bl_xstrdup("");
	out->original_message_id = strip_angle(block_header(orig, "Message-ID"));
	if (!out->original_message_id)
		out->original_message_id = bl_xstrdup("");
	out->original_list_id = block_header(orig, "List-Id");
	if (!out->original_list_id)
		out->original_list_id = bl_xstrdup("");
	char *oto = block_header(orig, "To");
	out->original_to = first_address(oto);
	free(oto);

	/* addresses that are never the failed recipient */
	struct addrset ex = {0};
	addrset_add_all(&ex, from_hdr);
	addrset_add_all(&ex, bl_report_header(&rep, "To"));
	addrset_add_all(&ex, bl_report_header(&rep, "Return-Path"));
	if (envelope_to && *envelope_to)
		addrset_add_all(&ex, envelope_to);
	{
		static const char *const sender_fields[] = {"From", "Return-Path", "Sender",
		                                            "Reply-To", NULL};
		/* ... but not an address the original was also sent to (a message to oneself) */
		struct addrset rcpts = {0};
		char *ov = block_header(orig, "To");
		addrset_add_all(&rcpts, ov);
		free(ov);
		ov = block_header(orig, "Cc");
		addrset_add_all(&rcpts, ov);
		free(ov);
		for (size_t i = 0; sender_fields[i]; i++) {
			char *v = block_header(orig, sender_fields[i]);
			size_t pos = 0, a, n, vl = v ? strlen(v) : 0;
			while (v && next_address(v, vl, pos, &a, &n)) {
				pos = a + n;
				if (!addrset_has(&rcpts, v + a, n))
					addrset_add(&ex, v + a, n);
			}
			free(v);
		}
		addrset_free(&rcpts);
	}

	/* 0. an Amazon SES notification mailed as JSON */
	char *hm = NULL, *rr = NULL;
	if (rep.text && ses_notification(rep.text, out))
		goto done;

	/* 1. complaints */
	hm = raw_header(msg, len, "x-hmxmroriginalrecipient");
	if (rep.arf.present || hm) {
		out->kind = BL_REPORT_KIND_ARF;
		const char *rcpt = NULL;
		size_t rn = 0;
		if (rep.arf.present && rep.arf.original_rcpt_to && *rep.arf.original_rcpt_to)
			address_span(rep.arf.original_rcpt_to, &rcpt, &rn);
		else if (hm)
			address_span(hm, &rcpt, &rn);
		else if ((rr = raw_header(msg, len, "removal-recipient")) != NULL)
			address_span(rr, &rcpt, &rn); /* a field some feedback loops add */
		else
			address_span(out->original_to, &rcpt, &rn);
		/* a report about several recipients repeats Original-Rcpt-To */
		size_t extra_from = 0;
		long at;
		int first = 1;
		struct bl_bounce_finding *f = NULL;
		while (rep.arf.present && extra_from < len &&
		       (at = ci_find(msg + extra_from, len - extra_from, "\noriginal-rcpt-to:")) >=
		           0) {
			size_t p = extra_from + (size_t)at + 18;
			size_t e = p;
			while (e < len && msg[e] != '\n' && msg[e] != '\r')
				e++;
			size_t a, n;
			if (next_address(msg, e, p, &a, &n)) {
				if (first && rcpt && !(n == rn && memcmp(msg + a, rcpt, n) == 0))
					break; /* a different part: keep the parser's one */
				if (!first) {
					f = finding_new(out, msg + a, n);
					set_complaint(f, &rep, text, cut);
				}
				first = 0;
			}
			extra_from = e;
		}
		f = finding_new(out, rcpt ? rcpt : "", rcpt ? rn : 0);
		set_complaint(f, &rep, text, cut);
		if (out->n_findings > 1) {
			/* report order: the parser's recipient first */
			struct bl_bounce_finding last = out->findings[out->n_findings - 1];
			memmove(out->findings + 1, out->findings,
			        (out->n_findings - 1) * sizeof(*out->findings));
			out->findings[0] = last;
		}
		goto done;
	}
	/* 2. RFC 3464 delivery-status */
	if (rep.has_dsn && rep.dsn.n_rcpts > 0) {
		out->kind = BL_REPORT_KIND_DSN;
		char *ctx = diag_dup(text, cut);
		for (size_t i = 0; i < rep.dsn.n_rcpts; i++) {
			const struct bl_report_rcpt *r = &rep.dsn.rcpts[i];
			const char *a = NULL;
			size_t an = 0;
			/* the address bulletin sent to (Original-Recipient) when it is one, the
			   Final-Recipient (after forwarding, maybe an X.400 name) otherwise */
			size_t st0, n0;
			const char *orcpt = r->original_recipient;
			if (next_address(orcpt, strlen(orcpt), 0, &st0, &n0))
				address_span(orcpt, &a, &an);
			else
				address_span(*r->final_recipient ? r->final_recipient : orcpt, &a,
				             &an);
			struct bl_bounce_finding *f = finding_new(out, a, an);
			free(f->diagnostic);
			if (*r->diagnostic)
				f->diagnostic = diag_dup(r->diagnostic, strlen(r->diagnostic));
			else
				f->diagnostic = text_line_about(text, cut, a, an, &ex);
			/* no Diagnostic-Code, a status of generic detail (x.y.0) and a text that
			   only lists the address (Sendmail's "following addresses had permanent
			   fatal errors"): the text as a whole says why (its transcript:
			   "mail.local: unknown user: ...") */
			if (!*r->diagnostic && rep.dsn.n_rcpts == 1 && generic_status(r->status) &&
			    says_nothing_more(f->diagnostic, a, an)) {
				free(f->diagnostic);
				f->diagnostic = bl_xstrdup(ctx);
			}
			classify_into(f, r->status, f->diagnostic, ctx);
			sender_refusal(f, &ex);
			if (!f->reply_code && strcmp(r->diagnostic_type, "smtp") == 0)
				f->reply_code = reply_code_of(r->diagnostic);
			if (strcmp(r->action, "delayed") == 0) {
				f->final = 0;
				if (f->cls == BL_BOUNCE_HARD || f->cls == BL_BOUNCE_UNKNOWN)
					f->cls = BL_BOUNCE_SOFT;
			} else if (strcmp(r->action, "delivered") == 0 ||
			           strcmp(r->action, "relayed") == 0 ||
			           strcmp(r->action, "expanded") == 0) {
				f->cls = BL_BOUNCE_UNKNOWN;
				snprintf(f->reason, sizeof(f->reason), "delivered");
			}
		}
		free(ctx);
		goto done;
	}

	int daemon = from_daemon(out->from, from_hdr);
	int bouncy_subject = subj && ci_any(subj, strlen(subj), bounce_subjects);
	int bouncy_text = ci_any(text, cut, bounce_phrases);

	/* 3. auto-replies: marked as such, and not from a mail system */
	if (autoreply_headers(&rep) && !daemon && !(bouncy_subject && bouncy_text)) {
		out->kind = BL_REPORT_KIND_AUTOREPLY;
		struct bl_bounce_finding *f = finding_new(out, out->from, strlen(out->from));
		f->cls = BL_BOUNCE_AUTOREPLY;
		snprintf(f->reason, sizeof(f->reason), "vacation");
		free(f->diagnostic);
		f->diagnostic = diag_dup(text, cut);
		goto done;
	}

	/* 4. a non-standard bounce */
	if (daemon || bouncy_subject || bouncy_text) {
		int delay = text_is_delay(text, cut, subj);
		const char *failed = bl_report_header(&rep, "X-Failed-Recipients");
		size_t n = text_findings(out, &rep, text, cut, &ex, failed, delay);
		if (n == 0 && (daemon || (bouncy_subject && bouncy_text)) && *out->original_to &&
		    !addrset_has(&ex, out->original_to, strlen(out->original_to))) {
			/* no address in the text: the returned original's To */
			struct bl_bounce_finding *f =
			    finding_new(out, out->original_to, strlen(out->original_to));
			free(f->diagnostic);
			f->diagnostic = diag_dup(text, cut);
			classify_into(f, "", f->diagnostic, NULL);
			f->final = !delay;
			n = 1;
			*weak = 1;
		}
		if (n > 0) {
			out->kind = BL_REPORT_KIND_BOUNCE;
			goto done;
		}
	}

	/* 5. an auto-reply known by its subject alone */
	if (subj && ci_any(subj, strlen(subj), autoreply_subjects) && !daemon) {
		out->kind = BL_REPORT_KIND_AUTOREPLY;
		struct bl_bounce_finding *f = finding_new(out, out->from, strlen(out->from));
		f->cls = BL_BOUNCE_AUTOREPLY;
		snprintf(f->reason, sizeof(f->reason), "vacation");
		free(f->diagnostic);
		f->diagnostic = diag_dup(text, cut);
	}

	*weak = 1;
done:
	if (rep.has_dsn || rep.arf.present)
		*weak = 0;
	free(hm);
	free(rr);
	addrset_free(&ex);
	free(orig);
	bl_report_clear(&rep);
	return 0;
}

/* Where a message/rfc822 part's content begins in @msg when that part holds a delivery
 * report itself (a bounce of a bounce, or a report a gateway wrapped), else -1. */
static long inner_report(const char *msg, size_t len)
{
	long at = ci_find(msg, len, "message/rfc822");
	if (at < 0)
		return -1;
	size_t p = (size_t)at;
	/* the end of that part's header block */
	while (p + 1 < len) {
		if (msg[p] == '\n' && (msg[p + 1] == '\n' ||
		                       (msg[p + 1] == '\r' && p + 2 < len && msg[p + 2] == '\n')))
			break;
		if (msg[p] == '\r' && msg[p + 1] == '\r')
			break;
		p++;
	}
	while (p < len && (msg[p] == '\n' || msg[p] == '\r'))
		p++;
	if (p >= len || ci_find(msg + p, len - p, "message/delivery-status") < 0)
		return -1;
	return (long)p;
}

/* The report with a forwarded one read in place of an outer that named no recipient. */
static int analyze_outer_inner(const char *msg, size_t len, const char *envelope_to,
                               struct bl_bounce_report *out, struct bl_diag *d)
{
	int weak;
	int rc = analyze(msg, len, envelope_to, out, d, &weak);
	if (rc != 0 || !weak)
		return rc;
	/* nothing named the failed recipient: the report may be one forwarded inside */
	long at = inner_report(msg, len);
	if (at < 0)
		return 0;
	struct bl_bounce_report in;
	struct bl_diag d2;
	int w2;
	if (analyze(msg + at, len - (size_t)at, envelope_to, &in, &d2, &w2) != 0)
		return 0;
	if (in.kind == BL_REPORT_KIND_DSN && in.n_findings > 0) {
		/* its findings and its original; the key, sender and subject stay the outer's */
		struct bl_bounce_finding *fs = out->findings;
		size_t nf = out->n_findings;
		out->findings = in.findings;
		out->n_findings = in.n_findings;
		in.findings = fs;
		in.n_findings = nf;
		out->kind = in.kind;
		char *t = out->original_message_id;
		out->original_message_id = in.original_message_id;
		in.original_message_id = t;
		t = out->original_list_id;
		out->original_list_id = in.original_list_id;
		in.original_list_id = t;
		t = out->original_to;
		out->original_to = in.original_to;
		in.original_to = t;
	}
	bl_bounce_report_clear(&in);
	return 0;
}

int bl_bounce_analyze(const char *msg, size_t len, const char *envelope_to,
                      struct bl_bounce_report *out, struct bl_diag *d)
{
	int rc = analyze_outer_inner(msg, len, envelope_to, out, d);
	/* One message of ours has one recipient: a report naming hundreds (an ARF with 20,000
	 * Original-Rcpt-To) is no reason to write hundreds of rows. */
	while (rc == 0 && out->n_findings > BL_BOUNCE_MAX_FINDINGS) {
		struct bl_bounce_finding *f = &out->findings[--out->n_findings];
		free(f->recipient);
		free(f->diagnostic);
		free(f->feedback_type);
	}
	return rc;
}

void bl_bounce_report_clear(struct bl_bounce_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_findings; i++) {
		free(r->findings[i].recipient);
		free(r->findings[i].diagnostic);
		free(r->findings[i].feedback_type);
	}
	free(r->findings);
	free(r->envelope_to);
	free(r->original_message_id);
	free(r->original_list_id);
	free(r->original_to);
	free(r->subject);
	free(r->from);
	memset(r, 0, sizeof(*r));
}
