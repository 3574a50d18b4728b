/*
 * Classification of one delivery failure (bounce.h): an RFC 3463 status
 * code, an SMTP reply code and the diagnostic text become a finer reason
 * and one of bulletin's classes. The text is lowercased and its runs of
 * whitespace folded to one space, then matched against a table of phrases
 * in priority order (the most specific wording first); the status code
 * decides when the text says nothing we know. Every phrase here was
 * written for bulletin from the wording MTAs and providers use.
 */
#include "bounce/bounce.h"

#include <stdio.h>
#include <string.h>

/* The reason vocabulary (docs/bounces.md) and the class each reason has under a 5xx; a
 * 4xx status or reply turns hard into soft. */
struct reason_class {
	const char *reason;
	enum bl_bounce_class cls;
};

static const struct reason_class reason_classes[] = {
    {"userunknown", BL_BOUNCE_HARD},      {"hostunknown", BL_BOUNCE_HARD},
    {"hasmoved", BL_BOUNCE_HARD},         {"notaccept", BL_BOUNCE_HARD},
    {"mailboxfull", BL_BOUNCE_SOFT},      {"expired", BL_BOUNCE_SOFT},
    {"suspend", BL_BOUNCE_SOFT},          {"systemerror", BL_BOUNCE_SOFT},
    {"systemfull", BL_BOUNCE_SOFT},       {"networkerror", BL_BOUNCE_SOFT},
    {"toomanyconn", BL_BOUNCE_SOFT},      {"exceedlimit", BL_BOUNCE_SOFT},
    {"mesgtoobig", BL_BOUNCE_SOFT},       {"mailererror", BL_BOUNCE_SOFT},
    {"syntaxerror", BL_BOUNCE_SOFT},      {"greylisted", BL_BOUNCE_SOFT},
    {"blocked", BL_BOUNCE_BLOCK},         {"rejected", BL_BOUNCE_BLOCK},
    {"policyviolation", BL_BOUNCE_BLOCK}, {"spamdetected", BL_BOUNCE_BLOCK},
    {"securityerror", BL_BOUNCE_BLOCK},   {"badreputation", BL_BOUNCE_BLOCK},
    {"requireptr", BL_BOUNCE_BLOCK},      {"authfailure", BL_BOUNCE_BLOCK},
    {"norelaying", BL_BOUNCE_BLOCK},      {"virusdetected", BL_BOUNCE_BLOCK},
    {"contenterror", BL_BOUNCE_BLOCK},    {"notcompliantrfc", BL_BOUNCE_BLOCK},
    {"speeding", BL_BOUNCE_BLOCK},        {"failedstarttls", BL_BOUNCE_BLOCK},
    {"filtered", BL_BOUNCE_BLOCK},        {"feedback", BL_BOUNCE_COMPLAINT},
    {"vacation", BL_BOUNCE_AUTOREPLY},    {"delivered", BL_BOUNCE_UNKNOWN},
    {"undefined", BL_BOUNCE_UNKNOWN},
};

static enum bl_bounce_class class_of(const char *reason)
{
	for (size_t i = 0; i < sizeof(reason_classes) / sizeof(reason_classes[0]); i++)
		if (strcmp(reason_classes[i].reason, reason) == 0)
			return reason_classes[i].cls;
	return BL_BOUNCE_UNKNOWN;
}

/* Phrases, lowercase with single spaces, in priority order: the first that occurs in the
 * text gives the reason. Sender-side and policy wording comes before recipient wording
 * because a refusal of the sender often quotes the recipient too ("<a@b>: Sender address
 * rejected: Domain not found"). */
struct phrase {
	const char *text;
	const char *reason;
};

static const struct phrase phrases[] = {
    /* wording that contains a later, looser phrase */
    {"not listed in", "userunknown"},
    {"domain does not exist", "hostunknown"},
    {"no such domain", "hostunknown"},
    {"host or domain name not found", "hostunknown"},
    {"unrouteable mail domain", "hostunknown"},
    {"account is blocked", "suspend"},
    {"temporary locked", "suspend"},
    {"temporarily locked", "suspend"},
    {"multiple addresses in from", "notcompliantrfc"},
    {"mailbox exceeds", "mailboxfull"},
    {"not configured to relay", "norelaying"},
    {"address is not verified", "norelaying"},
    {"authentication information", "authfailure"},
    {"purported responsible address", "rejected"},
    {"invalid ip", "blocked"},
    /* our sending host's DNS (reverse lookup) */
    {"cannot find your hostname", "requireptr"},
    {"cannot find your reverse hostname", "requireptr"},
    {"reverse dns", "requireptr"},
    {"reverse lookup", "requireptr"},
    {"no ptr record", "requireptr"},
    {"ptr record", "requireptr"},
    {"rdns", "requireptr"},
    {"cannot resolve your address", "requireptr"},
    {"no reverse", "requireptr"},
    {"is not resolvable", "requireptr"},
    /* relaying */
    {"relay access denied", "norelaying"},
    {"relaying denied", "norelaying"},
    {"relaying not allowed", "norelaying"},
    {"relaying is not allowed", "norelaying"},
    {"relay not permitted", "norelaying"},
    {"not permitted to relay", "norelaying"},
    {"we do not relay", "norelaying"},
    {"unable to relay", "norelaying"},
    {"relay denied", "norelaying"},
    {"relaying mail to", "norelaying"},
    {"not allowed to relay", "norelaying"},
    {"no relaying", "norelaying"},
    {"not a gateway", "norelaying"},
    /* sender authentication (SPF, DKIM, DMARC) */
    {"dmarc", "authfailure"},
    {"spf check", "authfailure"},
    {"spf fail", "authfailure"},
    {"spf record", "authfailure"},
    {"sender policy framework", "authfailure"},
    {"spf)", "authfailure"},
    {" spf ", "authfailure"},
    {"dkim", "authfailure"},
    {"sender authentication", "authfailure"},
    {"not authorized to send", "authfailure"},
    {"unauthenticated", "authfailure"},
    {"authentication failed", "authfailure"},
    /* TLS and other transport security */
    {"starttls", "failedstarttls"},
    {"tls required", "securityerror"},
    {"must issue a starttls", "failedstarttls"},
    {"encryption required", "securityerror"},
    {"authentication required", "securityerror"},
    {"must be authenticated", "securityerror"},
    {"secure connection", "securityerror"},
    {"certificate", "securityerror"},
    /* the sender address was refused */
    {"sender address rejected", "rejected"},
    {"sender rejected", "rejected"},
    {"sender verify failed", "rejected"},
    {"sender verification", "rejected"},
    {"sender domain", "rejected"},
    {"sender address", "rejected"},
    {"domain of sender", "rejected"},
    {"envelope sender", "rejected"},
    {"sender is not allowed", "rejected"},
    {"sender denied", "rejected"},
    {"invalid sender", "rejected"},
    {"unknown sender", "rejected"},
    {"mail from address", "rejected"},
    {"return path", "rejected"},
    {"bad sender", "rejected"},
    {"sender unknown", "rejected"},
    {"your address has been", "rejected"},
    {"senders domain", "rejected"},
    {"from address is not", "rejected"},
    /* our sending host is on a list or has a bad reputation */
    {"reputation", "badreputation"},
    {"spamhaus", "blocked"},
    {"spamcop", "blocked"},
    {"barracuda", "blocked"},
    {"sorbs", "blocked"},
    {"blacklist", "blocked"},
    {"black list", "blocked"},
    {"blocklist", "blocked"},
    {"block list", "blocked"},
    {"denylist", "blocked"},
    {"dnsbl", "blocked"},
    {"rbl", "blocked"},
    {"client host blocked", "blocked"},
    {"client host rejected", "blocked"},
    {"listed at", "blocked"},
    {"listed on", "blocked"},
    {"listed in", "blocked"},
    {"your ip", "blocked"},
    {"ip address", "blocked"},
    {"ip blocked", "blocked"},
    {"connection refused by", "blocked"},
    {"connection rejected", "blocked"},
    {"access denied", "blocked"},
    {"banned", "blocked"},
    {"has been blocked", "blocked"},
    {"is blocked", "blocked"},
    {"temporarily deferred", "blocked"},
    {"not accepting connections", "blocked"},
    /* the sending rate */
    {"too many connections", "toomanyconn"},
    {"too many concurrent", "toomanyconn"},
    {"connection limit", "toomanyconn"},
    {"too many sessions", "toomanyconn"},
    {"rate limit", "speeding"},
    {"rate-limit", "speeding"},
    {"ratelimit", "speeding"},
    {"sending rate", "speeding"},
    {"too many messages", "speeding"},
    {"too fast", "speeding"},
    {"throttl", "speeding"},
    {"exceeded the rate", "speeding"},
    /* the content */
    {"virus", "virusdetected"},
    {"malware", "virusdetected"},
    {"infected", "virusdetected"},
    {"spam", "spamdetected"},
    {"junk mail", "spamdetected"},
    {"unsolicited", "spamdetected"},
    {"bulk mail", "spamdetected"},
    {"content rejected", "spamdetected"},
    {"message content", "contenterror"},
    {"rfc 5322", "notcompliantrfc"},
    {"rfc5322", "notcompliantrfc"},
    {"rfc 2822", "notcompliantrfc"},
    {"rfc2822", "notcompliantrfc"},
    {"rfc 822", "notcompliantrfc"},
    {"not rfc compliant", "notcompliantrfc"},
    {"duplicate header", "notcompliantrfc"},
    {"header syntax", "notcompliantrfc"},
    {"malformed", "contenterror"},
    {"invalid mime", "contenterror"},
    {"message header", "contenterror"},
    {"illegal attachment", "contenterror"},
    {"attachment", "contenterror"},
    /* the message is too big */
    {"message too large", "mesgtoobig"},
    {"message is too large", "mesgtoobig"},
    {"message too big", "mesgtoobig"},
    {"message is too big", "mesgtoobig"},
    {"message size exceeds", "mesgtoobig"},
    {"size exceeds", "mesgtoobig"},
    {"exceeds size limit", "mesgtoobig"},
    {"exceeds the maximum size", "mesgtoobig"},
    {"message size limit", "mesgtoobig"},
    {"message length exceeds", "mesgtoobig"},
    {"too large", "mesgtoobig"},
    {"mail size limit", "mesgtoobig"},
    {"line limit exceed", "mesgtoobig"},
    {"too many recipients", "exceedlimit"},
    /* the recipient's mailbox is full */
    {"mailbox full", "mailboxfull"},
    {"mailbox is full", "mailboxfull"},
    {"mail box full", "mailboxfull"},
    {"mailbox has exceeded", "mailboxfull"},
    {"mailbox exceeded", "mailboxfull"},
    {"mailbox size limit", "mailboxfull"},
    {"over quota", "mailboxfull"},
    {"overquota", "mailboxfull"},
    {"over its quota", "mailboxfull"},
    {"over the quota", "mailboxfull"},
    {"quota exceeded", "mailboxfull"},
    {"exceeded quota", "mailboxfull"},
    {"exceeds quota", "mailboxfull"},
    {"exceed quota", "mailboxfull"},
    {"quota", "mailboxfull"},
    {"storage limit", "mailboxfull"},
    {"exceeded storage", "mailboxfull"},
    {"exceeded its storage", "mailboxfull"},
    {"out of storage", "mailboxfull"},
    {"insufficient disk space", "mailboxfull"},
    {"is full", "mailboxfull"},
    {"too much mail", "mailboxfull"},
    {"full mailbox", "mailboxfull"},
    {"box full", "mailboxfull"},
    {"insufficient system storage", "systemfull"},
    {"insufficient storage", "systemfull"},
    {"system full", "systemfull"},
    {"out of disk", "systemfull"},
    /* the recipient's account is closed for now */
    {"account disabled", "suspend"},
    {"account is disabled", "suspend"},
    {"account has been disabled", "suspend"},
    {"mailbox disabled", "suspend"},
    {"mailbox is disabled", "suspend"},
    {"mailbox has been disabled", "suspend"},
    {"account is inactive", "suspend"},
    {"mailbox is inactive", "suspend"},
    {"inactive account", "suspend"},
    {"inactive mailbox", "suspend"},
    {"account inactive", "suspend"},
    {"suspended", "suspend"},
    {"deactivated", "suspend"},
    {"not active", "suspend"},
    {"account is locked", "suspend"},
    {"mailbox is frozen", "suspend"},
    {"account has expired", "suspend"},
    {"account expired", "suspend"},
    {"temporarily disabled", "suspend"},
    {"currently disabled", "suspend"},
    {"is disabled", "suspend"},
    /* the recipient moved */
    {"has moved", "hasmoved"},
    {"has been moved", "hasmoved"},
    {"moved to", "hasmoved"},
    {"forwarding address", "hasmoved"},
    /* the recipient does not exist */
    {"user unknown", "userunknown"},
    {"unknown user", "userunknown"},
    {"no such user", "userunknown"},
    {"no such mailbox", "userunknown"},
    {"no such recipient", "userunknown"},
    {"no such account", "userunknown"},
    {"no such address", "userunknown"},
    {"no such person", "userunknown"},
    {"no mailbox here", "userunknown"},
    {"no mailbox by that name", "userunknown"},
    {"user not found", "userunknown"},
    {"user not known", "userunknown"},
    {"user does not exist", "userunknown"},
    {"user doesn't exist", "userunknown"},
    {"user doesn't have", "userunknown"},
    {"user does not have", "userunknown"},
    {"user invalid", "userunknown"},
    {"invalid user", "userunknown"},
    {"recipient not found", "userunknown"},
    {"recipient unknown", "userunknown"},
    {"unknown recipient", "userunknown"},
    {"recipient does not exist", "userunknown"},
    {"invalid recipient", "userunknown"},
    {"recipient is invalid", "userunknown"},
    {"recipient is not valid", "userunknown"},
    {"bad recipient", "userunknown"},
    {"recipient rejected", "userunknown"},
    {"recipient address rejected", "userunknown"},
    {"address not found", "userunknown"},
    {"address unknown", "userunknown"},
    {"unknown address", "userunknown"},
    {"address does not exist", "userunknown"},
    {"address is invalid", "userunknown"},
    {"invalid address", "userunknown"},
    {"address invalid", "userunknown"},
    {"address rejected", "userunknown"},
    {"address no longer", "userunknown"},
    {"no longer in use", "userunknown"},
    {"no longer valid", "userunknown"},
    {"no longer available", "userunknown"},
    {"no longer active", "userunknown"},
    {"mailbox not found", "userunknown"},
    {"mailbox does not exist", "userunknown"},
    {"mailbox unavailable", "userunknown"},
    {"mailbox is unavailable", "userunknown"},
    {"mailbox not available", "userunknown"},
    {"mailbox is not available", "userunknown"},
    {"invalid mailbox", "userunknown"},
    {"not a valid mailbox", "userunknown"},
    {"unknown mailbox", "userunknown"},
    {"account does not exist", "userunknown"},
    {"account doesn't exist", "userunknown"},
    {"account not found", "userunknown"},
    {"account that you tried to reach does not exist", "userunknown"},
    {"does not exist", "userunknown"},
    {"doesn't exist", "userunknown"},
    {"unknown local part", "userunknown"},
    {"unrouteable address", "userunknown"},
    {"undeliverable address", "userunknown"},
    {"not our customer", "userunknown"},
    {"not exist", "userunknown"},
    {"no account by that name", "userunknown"},
    {"is not a known user", "userunknown"},
    {"not a known user", "userunknown"},
    {"unknown or illegal alias", "userunknown"},
    {"illegal alias", "userunknown"},
    {"not listed in", "userunknown"},
    {"no valid recipients", "userunknown"},
    {"bad destination mailbox", "userunknown"},
    {"email account that you tried to reach", "userunknown"},
    {"no longer", "userunknown"},
    {"recipient name is not recognized", "userunknown"},
    {"invalid final delivery userid", "userunknown"},
    {"check if address is correct", "userunknown"},
    {"not recognized", "userunknown"},
    /* the recipient's domain */
    {"host not found", "hostunknown"},
    {"host unknown", "hostunknown"},
    {"unknown host", "hostunknown"},
    {"host or domain name not found", "hostunknown"},
    {"domain not found", "hostunknown"},
    {"domain name not found", "hostunknown"},
    {"no such domain", "hostunknown"},
    {"unknown domain", "hostunknown"},
    {"domain does not exist", "hostunknown"},
    {"domain is not", "hostunknown"},
    {"unrouteable mail domain", "hostunknown"},
    {"unroutable", "hostunknown"},
    {"name or service not known", "hostunknown"},
    {"nxdomain", "hostunknown"},
    {"no mx", "hostunknown"},
    {"illegal host", "hostunknown"},
    {"bad destination system", "hostunknown"},
    {"domain does not accept mail", "notaccept"},
    {"does not accept mail", "notaccept"},
    {"not accepting mail", "notaccept"},
    {"accepts no mail", "notaccept"},
    {"null mx", "notaccept"},
    {"no smtp service", "notaccept"},
    /* expiry */
    {"retry timeout exceeded", "expired"},
    {"retry time exceeded", "expired"},
    {"delivery time expired", "expired"},
    {"message expired", "expired"},
    {"has expired", "expired"},
    {"expired", "expired"},
    {"could not be delivered within", "expired"},
    {"was not delivered within", "expired"},
    {"giving up", "expired"},
    {"too long in the queue", "expired"},
    {"in queue too long", "expired"},
    {"queue timeout", "expired"},
    {"been in the queue", "expired"},
    {"have been failing for", "expired"},
    {"retry period", "expired"},
    {"will be retried for", "expired"},
    {"did not accept our requests to connect", "expired"},
    {"delivery failed 20 attempts", "expired"},
    {"failed attempts", "expired"},
    {"could not find a gateway", "expired"},
    /* the network */
    {"connection refused", "networkerror"},
    {"connection timed out", "networkerror"},
    {"connection reset", "networkerror"},
    {"lost connection", "networkerror"},
    {"network is unreachable", "networkerror"},
    {"no route to host", "networkerror"},
    {"not reachable", "networkerror"},
    {"timed out", "networkerror"},
    {"timeout", "networkerror"},
    {"could not connect", "networkerror"},
    {"unable to connect", "networkerror"},
    {"temporary lookup failure", "networkerror"},
    {"dns error", "networkerror"},
    {"dns lookup", "networkerror"},
    {"mail loops back", "networkerror"},
    {"mail loop", "networkerror"},
    {"loop detected", "networkerror"},
    {"routing loop", "networkerror"},
    {"too many hops", "networkerror"},
    /* greylisting */
    {"greylist", "greylisted"},
    {"graylist", "greylisted"},
    {"grey-list", "greylisted"},
    /* policy, after every more specific wording */
    {"policy", "policyviolation"},
    {"violation", "policyviolation"},
    {"prohibited", "policyviolation"},
    {"not permitted", "policyviolation"},
    {"not allowed", "policyviolation"},
    {"blocked", "blocked"},
    {"refused", "blocked"},
    {"filtered", "filtered"},
    /* the receiving system */
    {"mailer error", "mailererror"},
    {"unknown mailer", "mailererror"},
    {"command failed", "mailererror"},
    {"command died", "mailererror"},
    {"program exited", "mailererror"},
    {"exit status", "mailererror"},
    {"exited with", "mailererror"},
    {"pipe to", "mailererror"},
    {"syntax error", "syntaxerror"},
    {"command unrecognized", "syntaxerror"},
    {"unrecognized command", "syntaxerror"},
    {"system error", "systemerror"},
    {"internal error", "systemerror"},
    {"server error", "systemerror"},
    {"configuration error", "systemerror"},
    {"local error", "systemerror"},
    {"temporary failure", "systemerror"},
    {"temporarily unavailable", "systemerror"},
    {"service unavailable", "systemerror"},
    {"try again later", "systemerror"},
    {"resources", "systemerror"},
    {"currently unavailable", "systemerror"},
    {"transaction failed", "systemerror"},
    /* a bare refusal, said of the message or the sender */
    {"rejected", "rejected"},
};

/* The reason an RFC 3463 status gives by itself, or NULL when its detail is generic. */
static const char *status_reason(int cls, int subject, int detail)
{
	switch (subject) {
	case 0:
		return NULL;
	case 1: /* addressing */
		switch (detail) {
		case 1:
		case 3:
		case 0:
			return detail == 0 ? NULL : "userunknown";
		case 2:
			return "hostunknown";
		case 4:
		case 5:
			return "userunknown";
		case 6:
			return "hasmoved";
		case 7:
		case 8:
			return "rejected"; /* the sender's address */
		case 10:
			return "notaccept"; /* RFC 7505 null MX */
		default:
			return NULL;
		}
	case 2: /* the mailbox */
		switch (detail) {
		case 1:
			return "suspend";
		case 2:
			return "mailboxfull";
		case 3:
			return "mesgtoobig";
		case 4:
			return "mailererror";
		default:
			return NULL;
		}
	case 3: /* the receiving system */
		switch (detail) {
		case 1:
			return "systemfull";
		case 2:
			return "notaccept";
		case 4:
			return "mesgtoobig";
		case 5:
			return "systemerror";
		default:
			return cls == 4 ? "systemerror" : NULL;
		}
	case 4: /* network and routing */
		switch (detail) {
		case 1:
		case 2:
			return "networkerror";
		case 3:
			return "networkerror";
		case 4:
			return "hostunknown";
		case 6:
			return "networkerror";
		case 7:
			return "expired";
		default:
			return "networkerror";
		}
	case 5: /* the mail delivery protocol */
		return detail == 3 ? "exceedlimit" : "syntaxerror";
	case 6: /* the content */
		return "contenterror";
	case 7: /* security and policy */
		switch (detail) {
		case 1:
		case 0:
			return NULL; /* said for everything: the text decides */
		case 13:
			return "suspend"; /* user account disabled */
		case 7:
			return "securityerror";
		case 8:
		case 9:
		case 11:
			return "securityerror";
		case 10:
			return "failedstarttls";
		case 25:
			return "requireptr";
		case 20:
		case 21:
		case 22:
		case 23:
		case 24:
		case 26:
		case 27:
			return "authfailure";
		default:
			return "policyviolation";
		}
	default:
		return NULL;
	}
}

/* Parses "C.S.D" (C in 2, 4, 5; S and D up to three digits) at @s; returns 1 and the
 * numbers, else 0. @s must end there or be followed by a non-digit, non-dot-digit. */
static int parse_status(const char *s, int *c, int *sub, int *det, size_t *used)
{
	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return 0;
	if (s[1] != '.')
		return 0;
	size_t i = 2;
	int v[2] = {0, 0};
	for (int k = 0; k < 2; k++) {
		size_t n = 0;
		while (s[i] >= '0' && s[i] <= '9' && n < 4) {
			v[k] = v[k] * 10 + (s[i] - '0');
			i++;
			n++;
		}
		if (n == 0 || n > 3)
			return 0;
		if (k == 0) {
			if (s[i] != '.')
				return 0;
			i++;
		}
	}
	if (s[i] == '.' && s[i + 1] >= '0' && s[i + 1] <= '9')
		return 0; /* an IP address or a version number */
	if (s[i] >= '0' && s[i] <= '9')
		return 0;
	*c = s[0] - '0';
	*sub = v[0];
	*det = v[1];
	if (used)
		*used = i;
	return 1;
}

int bl_bounce_status_from_text(const char *text, char out[BL_BOUNCE_STATUS_MAX])
{
	out[0] = '\0';
	if (!text)
		return 0;
	for (const char *p = text; *p; p++) {
		if (*p != '2' && *p != '4' && *p != '5')
			continue;
		if (p > text && ((p[-1] >= '0' && p[-1] <= '9') || p[-1] == '.' ||
		                 (p[-1] >= 'a' && p[-1] <= 'z') || (p[-1] >= 'A' && p[-1] <= 'Z')))
			continue;
		int c, s, d;
		size_t used;
		if (parse_status(p, &c, &s, &d, &used)) {
			snprintf(out, BL_BOUNCE_STATUS_MAX, "%d.%d.%d", c, s, d);
			return 1;
		}
	}
	return 0;
}

/* Lowercase @in into @out (@size bytes) with whitespace runs folded to one space. */
static void fold(const char *in, char *out, size_t size)
{
	size_t o = 0;
	int space = 1;
	for (const char *p = in; *p && o + 1 < size; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			if (!space)
				out[o++] = ' ';
			space = 1;
			continue;
		}
		space = 0;
		out[o++] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
	}
	out[o] = '\0';
}

static const char *text_reason(const char *diagnostic)
{
	char low[2048];
	if (!diagnostic || !*diagnostic)
		return NULL;
	fold(diagnostic, low, sizeof(low));
	for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++)
		if (strstr(low, phrases[i].text))
			return phrases[i].reason;
	return NULL;
}

static void put_reason(char reason[BL_BOUNCE_REASON_MAX], const char *r)
{
	snprintf(reason, BL_BOUNCE_REASON_MAX, "%s", r);
}

enum bl_bounce_class bl_bounce_classify(const char *status, int reply_code, const char *diagnostic,
                                        char reason[BL_BOUNCE_REASON_MAX])
{
	int c = 0, sub = 0, det = 0;
	int have_status = 0;
	if (status && *status) {
		const char *s = status;
		while (*s == ' ' || *s == '#')
			s++;
		have_status = parse_status(s, &c, &sub, &det, NULL);
	}
	if (!have_status && diagnostic) {
		char found[BL_BOUNCE_STATUS_MAX];
		if (bl_bounce_status_from_text(diagnostic, found))
			have_status = parse_status(found, &c, &sub, &det, NULL);
	}
	int rc_class = reply_code >= 200 && reply_code < 600 ? reply_code / 100 : 0;
	if (!rc_class && diagnostic) {
		/* a reply code at the start of the text or of a line: "550 ..." / "550-..." */
		for (const char *p = diagnostic; *p; p++) {
			if ((p == diagnostic || p[-1] == '\n' || p[-1] == ' ' || p[-1] == ':' ||
			     p[-1] == ';' || p[-1] == '(') &&
			    (p[0] == '4' || p[0] == '5') && p[1] >= '0' && p[1] <= '9' &&
			    p[2] >= '0' && p[2] <= '9' && (p[3] == ' ' || p[3] == '-')) {
				rc_class = p[0] - '0';
				break;
			}
		}
	}
	int temporary = have_status ? c == 4 : rc_class == 4;

	if (have_status && c == 2) {
		put_reason(reason, "delivered");
		return BL_BOUNCE_UNKNOWN;
	}
	const char *r = text_reason(diagnostic);
	const char *sr = have_status ? status_reason(c, sub, det) : NULL;
	/* A status whose detail is unambiguous about the address wins over looser wording. */
	if (sr && r && strcmp(sr, r) != 0) {
		int strong_status = (sub == 1 && (det == 1 || det == 2 || det == 6 || det == 10)) ||
		                    (sub == 2 && (det == 1 || det == 2)) ||
		                    (sub == 4 && det == 7) || (sub == 7 && det == 13) ||
		                    (sub == 7 && det >= 20 && det <= 27);
		int weak_text = strcmp(r, "policyviolation") == 0 || strcmp(r, "blocked") == 0 ||
		                strcmp(r, "systemerror") == 0 || strcmp(r, "networkerror") == 0 ||
		                strcmp(r, "filtered") == 0 || strcmp(r, "userunknown") == 0 ||
		                strcmp(r, "hostunknown") == 0 || strcmp(r, "expired") == 0;
		if (strong_status && weak_text)
			r = sr;
	}
	if (!r)
		r = sr;
	if (!r) {
		if (have_status || rc_class) {
			r = "undefined";
			put_reason(reason, r);
			return temporary ? BL_BOUNCE_SOFT : BL_BOUNCE_UNKNOWN;
		}
		put_reason(reason, "undefined");
		return BL_BOUNCE_UNKNOWN;
	}
	put_reason(reason, r);
	enum bl_bounce_class cls = class_of(r);
	if (cls == BL_BOUNCE_HARD && temporary)
		cls = BL_BOUNCE_SOFT;
	return cls;
}

const char *bl_report_kind_name(enum bl_report_kind k)
{
	switch (k) {
	case BL_REPORT_KIND_DSN:
		return "dsn";
	case BL_REPORT_KIND_BOUNCE:
		return "bounce";
	case BL_REPORT_KIND_ARF:
		return "arf";
	case BL_REPORT_KIND_AUTOREPLY:
		return "auto-reply";
	case BL_REPORT_KIND_OTHER:
		return "other";
	}
	return "?";
}
