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
	int strength; /* WEAK: generic wording a status code knows better; STRONG: names the cause
	                 so plainly that it wins over any status code; 0 otherwise */
};

/* ACCOUNT: STRONG, and the refusal is of our own sending account, not of a recipient
 * (bl_bounce_account_refusal) */
enum { WEAK = 1, STRONG = 2, ACCOUNT = 3 };

static const struct phrase phrases[] = {
    /* our sending account refused by the relay or the provider (a quota, a pause): never the
       recipient's mailbox, whatever the status says; before "quota" (mailboxfull) */
    {"sending quota", "rejected", ACCOUNT},
    {"sending-quota", "rejected", ACCOUNT},
    {"sending_quota", "rejected", ACCOUNT},
    {"daily message quota exceeded", "rejected", ACCOUNT},
    {"maximum sending rate", "rejected", ACCOUNT},
    {"sending paused", "rejected", ACCOUNT},
    {"sending suspended", "rejected", ACCOUNT},
    {"sending is paused", "rejected", ACCOUNT},
    {"sending is suspended", "rejected", ACCOUNT},
    {"sending has been paused", "rejected", ACCOUNT},
    {"sending has been suspended", "rejected", ACCOUNT},
    {"sending limit", "rejected", ACCOUNT},
    {"sending account", "rejected", ACCOUNT},
    {"sender account has been suspended", "rejected", ACCOUNT},
    {"sender account is suspended", "rejected", ACCOUNT},
    {"submission quota", "rejected", ACCOUNT}, /* Microsoft 365 */
    {"submissionquotaexceeded", "rejected", ACCOUNT},
    {"sender quota exceeded", "rejected", ACCOUNT},
    {"sender has exceeded", "rejected", ACCOUNT},
    {"daily send limit", "rejected", ACCOUNT},
    {"daily limit for message recipients", "rejected", ACCOUNT}, /* Microsoft 5.1.90 */
    {"message limit exceeded for this account", "rejected", ACCOUNT},
    {"sending disabled", "rejected", ACCOUNT},
    {"outgoing mail suspended", "rejected", ACCOUNT},
    {"unusual sending activity", "rejected", ACCOUNT},                 /* Zoho */
    {"smtp relay limit exceeded", "rejected", ACCOUNT},                /* Google Workspace */
    {"maximum credits exceeded", "rejected", ACCOUNT},                 /* SendGrid */
    {"account pending approval", "rejected", ACCOUNT},                 /* Postmark */
    {"free accounts are for test purposes only", "rejected", ACCOUNT}, /* Mailgun sandbox */
    {"(s3115)", "rejected", ACCOUNT}, /* Outlook.com: the daily sending limit */
    /* wording that contains a later, looser phrase */
    {"not listed in", "userunknown", 0},
    {"domain does not exist", "hostunknown", 0},
    {"no such domain", "hostunknown", 0},
    {"host or domain name not found", "hostunknown", 0},
    {"unrouteable mail domain", "hostunknown", 0},
    {"account is blocked", "suspend", 0},
    {"temporary locked", "suspend", 0},
    {"temporarily locked", "suspend", 0},
    {"multiple addresses in from", "notcompliantrfc", 0},
    {"mailbox exceeds", "mailboxfull", 0},
    {"not configured to relay", "norelaying", 0},
    {"address is not verified", "norelaying", 0},
    {"authentication information", "authfailure", 0},
    {"purported responsible address", "rejected", 0},
    {"invalid ip", "blocked", 0},
    {"recipient address rejected: access denied", "userunknown", 0}, /* Exchange Online: no such
                                                                     recipient in the tenant */
    {"host not found, try again", "networkerror", 0}, /* a DNS lookup that timed out */
    {"name service error", "networkerror", 0},
    {"couldn't find a mail exchanger", "hostunknown", 0},
    {"could not find a mail exchanger", "hostunknown", 0},
    {"connection rate limit", "toomanyconn", 0},
    {"frequency limited", "toomanyconn", 0},
    {"sent to too many recipients", "speeding", 0},
    {"receiving mail at a rate", "speeding", 0},
    {"headers too large", "contenterror", 0},
    {"header too large", "contenterror", 0},
    {"malformed address", "syntaxerror", 0},
    {"hop count exceeded", "networkerror", 0},
    {"permission to post", "rejected", 0}, /* a group that refuses the poster */
    {"'send mail as'", "rejected", 0},
    {"mismatches client ip", "requireptr", 0},
    {"ip name lookup failed", "requireptr", 0},
    {"dns lookup failure: host", "hostunknown", 0}, /* DragonFly Mail Agent: no such host */
    {"authentication checks failed", "authfailure", 0},
    {"header error", "contenterror", 0},
    {"service refused", "blocked", 0},
    /* our sending host's DNS (reverse lookup) */
    {"cannot find your hostname", "requireptr", 0},
    {"cannot find your reverse hostname", "requireptr", 0},
    {"reverse dns", "requireptr", 0},
    {"reverse lookup", "requireptr", 0},
    {"no ptr record", "requireptr", 0},
    {"ptr record", "requireptr", 0},
    {"rdns", "requireptr", 0},
    {"cannot resolve your address", "requireptr", 0},
    {"no reverse", "requireptr", 0},
    {"is not resolvable", "requireptr", 0},
    /* relaying */
    {"relay access denied", "norelaying", 0},
    {"relaying denied", "norelaying", 0},
    {"relaying not allowed", "norelaying", 0},
    {"relaying is not allowed", "norelaying", 0},
    {"relay not permitted", "norelaying", 0},
    {"not permitted to relay", "norelaying", 0},
    {"we do not relay", "norelaying", 0},
    {"unable to relay", "norelaying", 0},
    {"relay denied", "norelaying", 0},
    {"relaying mail to", "norelaying", 0},
    {"not allowed to relay", "norelaying", 0},
    {"no relaying", "norelaying", 0},
    {"not a gateway", "norelaying", 0},
    /* sender authentication (SPF, DKIM, DMARC) */
    {"dmarc", "authfailure", 0},
    {"spf check", "authfailure", 0},
    {"spf fail", "authfailure", 0},
    {"spf record", "authfailure", 0},
    {"sender policy framework", "authfailure", 0},
    {"spf)", "authfailure", 0},
    {" spf ", "authfailure", 0},
    {"dkim", "authfailure", 0},
    {"sender authentication", "authfailure", 0},
    {"not authorized to send", "authfailure", 0},
    {"unauthenticated", "authfailure", 0},
    {"authentication failed", "authfailure", 0},
    /* TLS and other transport security */
    {"starttls", "failedstarttls", 0},
    {"tls required", "securityerror", 0},
    {"must issue a starttls", "failedstarttls", 0},
    {"encryption required", "securityerror", 0},
    {"authentication required", "securityerror", 0},
    {"must be authenticated", "securityerror", 0},
    {"secure connection", "securityerror", 0},
    {"certificate", "securityerror", 0},
    /* the sender address was refused */
    {"sender address rejected", "rejected", 0},
    {"sender rejected", "rejected", 0},
    {"sender verify failed", "rejected", 0},
    {"sender verification", "rejected", 0},
    {"sender domain", "rejected", 0},
    {"sender address", "rejected", 0},
    {"domain of sender", "rejected", 0},
    {"envelope sender", "rejected", 0},
    {"sender is not allowed", "rejected", 0},
    {"sender denied", "rejected", 0},
    {"invalid sender", "rejected", 0},
    {"unknown sender", "rejected", 0},
    {"mail from address", "rejected", 0},
    {"return path", "rejected", 0},
    {"bad sender", "rejected", 0},
    {"sender unknown", "rejected", 0},
    {"your address has been", "rejected", 0},
    {"senders domain", "rejected", 0},
    {"from address is not", "rejected", 0},
    /* our sending host is on a list or has a bad reputation */
    {"reputation", "badreputation", 0},
    {"spamhaus", "blocked", STRONG},
    {"spamcop", "blocked", STRONG},
    {"barracuda", "blocked", 0},
    {"sorbs", "blocked", STRONG},
    {"blacklist", "blocked", STRONG},
    {"black list", "blocked", STRONG},
    {"blocklist", "blocked", STRONG},
    {"block list", "blocked", STRONG},
    {"denylist", "blocked", STRONG},
    {"dnsbl", "blocked", STRONG},
    {"rbl", "blocked", 0},
    {"(bl)", "blocked", 0}, /* T-Online's reason code for a block-listed sending host:
                               "554 IP=192.0.2.1 - A problem occurred. (...) (BL)" */
    {"client host blocked", "blocked", STRONG},
    {"client host rejected", "blocked", STRONG},
    {"listed at", "blocked", 0},
    {"listed on", "blocked", 0},
    {"listed in", "blocked", 0},
    {"your ip", "blocked", WEAK},
    {"ip address", "blocked", WEAK},
    {"ip blocked", "blocked", 0},
    {"connection refused by", "blocked", 0},
    {"connection rejected", "blocked", WEAK},
    {"access denied", "blocked", WEAK},
    {"banned", "blocked", WEAK},
    {"has been blocked", "blocked", WEAK},
    {"is blocked", "blocked", WEAK},
    {"temporarily deferred", "blocked", 0},
    {"not accepting connections", "blocked", 0},
    /* the sending rate */
    {"too many connections", "toomanyconn", 0},
    {"too many concurrent", "toomanyconn", 0},
    {"connection limit", "toomanyconn", 0},
    {"too many sessions", "toomanyconn", 0},
    {"rate limit", "speeding", 0},
    {"rate-limit", "speeding", 0},
    {"ratelimit", "speeding", 0},
    {"sending rate", "speeding", 0},
    {"too many messages", "speeding", 0},
    {"too fast", "speeding", 0},
    {"throttl", "speeding", 0},
    {"exceeded the rate", "speeding", 0},
    /* the content */
    {"virus", "virusdetected", 0},
    {"malware", "virusdetected", 0},
    {"infected", "virusdetected", 0},
    {"spam", "spamdetected", 0},
    {"junk mail", "spamdetected", 0},
    {"unsolicited", "spamdetected", 0},
    {"bulk mail", "spamdetected", 0},
    {"content rejected", "spamdetected", 0},
    {"message content", "contenterror", 0},
    {"rfc 5322", "notcompliantrfc", 0},
    {"rfc5322", "notcompliantrfc", 0},
    {"rfc 2822", "notcompliantrfc", 0},
    {"rfc2822", "notcompliantrfc", 0},
    {"rfc 822", "notcompliantrfc", 0},
    {"not rfc compliant", "notcompliantrfc", 0},
    {"duplicate header", "notcompliantrfc", 0},
    {"header syntax", "notcompliantrfc", 0},
    {"malformed", "contenterror", 0},
    {"invalid mime", "contenterror", 0},
    {"message header", "contenterror", 0},
    {"illegal attachment", "contenterror", 0},
    /* the message is too big */
    {"message too large", "mesgtoobig", 0},
    {"message is too large", "mesgtoobig", 0},
    {"message too big", "mesgtoobig", 0},
    {"message is too big", "mesgtoobig", 0},
    {"message size exceeds", "mesgtoobig", 0},
    {"size exceeds", "mesgtoobig", 0},
    {"exceeds size limit", "mesgtoobig", 0},
    {"exceeds the maximum size", "mesgtoobig", 0},
    {"message size limit", "mesgtoobig", 0},
    {"message length exceeds", "mesgtoobig", 0},
    {"too large", "mesgtoobig", 0},
    {"mail size limit", "mesgtoobig", 0},
    {"line limit exceed", "mesgtoobig", 0},
    {"too many recipients", "exceedlimit", 0},
    /* the recipient's mailbox is full */
    {"mailbox full", "mailboxfull", 0},
    {"mailbox is full", "mailboxfull", 0},
    {"mail box full", "mailboxfull", 0},
    {"mailbox has exceeded", "mailboxfull", 0},
    {"mailbox exceeded", "mailboxfull", 0},
    {"mailbox size limit", "mailboxfull", 0},
    {"over quota", "mailboxfull", 0},
    {"overquota", "mailboxfull", 0},
    {"over its quota", "mailboxfull", 0},
    {"over the quota", "mailboxfull", 0},
    {"quota exceeded", "mailboxfull", 0},
    {"exceeded quota", "mailboxfull", 0},
    {"exceeds quota", "mailboxfull", 0},
    {"exceed quota", "mailboxfull", 0},
    {"quota", "mailboxfull", 0},
    {"storage limit", "mailboxfull", 0},
    {"exceeded storage", "mailboxfull", 0},
    {"exceeded its storage", "mailboxfull", 0},
    {"out of storage", "mailboxfull", 0},
    {"insufficient disk space", "mailboxfull", 0},
    {"is full", "mailboxfull", 0},
    {"too much mail", "mailboxfull", 0},
    {"full mailbox", "mailboxfull", 0},
    {"box full", "mailboxfull", 0},
    {"insufficient system storage", "systemfull", 0},
    {"insufficient storage", "systemfull", 0},
    {"system full", "systemfull", 0},
    {"out of disk", "systemfull", 0},
    /* the recipient's account is closed for now */
    {"account disabled", "suspend", 0},
    {"account is disabled", "suspend", 0},
    {"account has been disabled", "suspend", 0},
    {"mailbox disabled", "suspend", 0},
    {"mailbox is disabled", "suspend", 0},
    {"mailbox has been disabled", "suspend", 0},
    {"account is inactive", "suspend", 0},
    {"mailbox is inactive", "suspend", 0},
    {"inactive account", "suspend", 0},
    {"inactive mailbox", "suspend", 0},
    {"account inactive", "suspend", 0},
    {"suspended", "suspend", 0},
    {"is inactive", "suspend", 0},
    {"deactivated", "suspend", 0},
    {"not active", "suspend", 0},
    {"account is locked", "suspend", 0},
    {"mailbox is frozen", "suspend", 0},
    {"account has expired", "suspend", 0},
    {"account expired", "suspend", 0},
    {"temporarily disabled", "suspend", 0},
    {"currently disabled", "suspend", 0},
    {"is disabled", "suspend", 0},
    /* the recipient moved */
    {"has moved", "hasmoved", 0},
    {"has been moved", "hasmoved", 0},
    {"moved to", "hasmoved", 0},
    {"forwarding address", "hasmoved", 0},
    /* the recipient does not exist */
    {"user unknown", "userunknown", 0},
    {"unknown user", "userunknown", 0},
    {"no such user", "userunknown", 0},
    {"no such mailbox", "userunknown", 0},
    {"no such recipient", "userunknown", 0},
    {"no such account", "userunknown", 0},
    {"no such address", "userunknown", 0},
    {"no such person", "userunknown", 0},
    {"no mailbox here", "userunknown", 0},
    {"no mailbox by that name", "userunknown", 0},
    {"user not found", "userunknown", 0},
    {"user not known", "userunknown", 0},
    {"user does not exist", "userunknown", 0},
    {"user doesn't exist", "userunknown", 0},
    {"user doesn't have", "userunknown", 0},
    {"user does not have", "userunknown", 0},
    {"user invalid", "userunknown", 0},
    {"invalid user", "userunknown", 0},
    {"recipient not found", "userunknown", 0},
    {"recipient unknown", "userunknown", 0},
    {"unknown recipient", "userunknown", 0},
    {"recipient does not exist", "userunknown", 0},
    {"invalid recipient", "userunknown", 0},
    {"recipient is invalid", "userunknown", 0},
    {"recipient is not valid", "userunknown", 0},
    {"bad recipient", "userunknown", 0},
    {"address not found", "userunknown", 0},
    {"address unknown", "userunknown", 0},
    {"unknown address", "userunknown", 0},
    {"address does not exist", "userunknown", 0},
    {"address is invalid", "userunknown", 0},
    {"invalid address", "userunknown", 0},
    {"address invalid", "userunknown", 0},
    {"address no longer", "userunknown", 0},
    {"no longer in use", "userunknown", 0},
    {"no longer valid", "userunknown", 0},
    {"no longer available", "userunknown", 0},
    {"no longer active", "userunknown", 0},
    {"mailbox not found", "userunknown", 0},
    {"mailbox does not exist", "userunknown", 0},
    {"mailbox unavailable", "userunknown", 0},
    {"mailbox is unavailable", "userunknown", 0},
    {"mailbox not available", "userunknown", 0},
    {"mailbox is not available", "userunknown", 0},
    {"invalid mailbox", "userunknown", 0},
    {"not a valid mailbox", "userunknown", 0},
    {"unknown mailbox", "userunknown", 0},
    {"account does not exist", "userunknown", 0},
    {"account doesn't exist", "userunknown", 0},
    {"account not found", "userunknown", 0},
    {"account that you tried to reach does not exist", "userunknown", 0},
    {"does not exist", "userunknown", 0},
    {"doesn't exist", "userunknown", 0},
    {"unknown local part", "userunknown", 0},
    {"unrouteable address", "userunknown", 0},
    {"undeliverable address", "userunknown", 0},
    {"not our customer", "userunknown", 0},
    {"not exist", "userunknown", 0},
    {"no account by that name", "userunknown", 0},
    {"is not a known user", "userunknown", 0},
    {"not a known user", "userunknown", 0},
    {"unknown or illegal alias", "userunknown", 0},
    {"illegal alias", "userunknown", 0},
    {"not listed in", "userunknown", 0},
    {"no valid recipients", "userunknown", 0},
    {"bad destination mailbox", "userunknown", 0},
    {"email account that you tried to reach", "userunknown", 0},
    {"no longer", "userunknown", 0},
    {"recipient name is not recognized", "userunknown", 0},
    {"invalid final delivery userid", "userunknown", 0},
    {"check if address is correct", "userunknown", 0},
    {"not recognized", "userunknown", 0},
    /* the recipient's domain */
    {"host not found", "hostunknown", 0},
    {"host unknown", "hostunknown", 0},
    {"unknown host", "hostunknown", 0},
    {"host or domain name not found", "hostunknown", 0},
    {"domain not found", "hostunknown", 0},
    {"domain name not found", "hostunknown", 0},
    {"no such domain", "hostunknown", 0},
    {"unknown domain", "hostunknown", 0},
    {"domain does not exist", "hostunknown", 0},
    {"domain is not", "hostunknown", 0},
    {"unrouteable mail domain", "hostunknown", 0},
    {"unroutable", "hostunknown", 0},
    {"name or service not known", "hostunknown", 0},
    {"nxdomain", "hostunknown", 0},
    {"no mx", "hostunknown", 0},
    {"illegal host", "hostunknown", 0},
    {"bad destination system", "hostunknown", 0},
    {"domain does not accept mail", "notaccept", 0},
    {"does not accept mail", "notaccept", 0},
    {"not accepting mail", "notaccept", 0},
    {"accepts no mail", "notaccept", 0},
    {"null mx", "notaccept", 0},
    {"no smtp service", "notaccept", 0},
    /* expiry */
    {"retry timeout exceeded", "expired", 0},
    {"retry time exceeded", "expired", 0},
    {"delivery time expired", "expired", 0},
    {"message expired", "expired", 0},
    {"has expired", "expired", 0},
    {"expired", "expired", 0},
    {"could not be delivered within", "expired", 0},
    {"was not delivered within", "expired", 0},
    {"giving up", "expired", WEAK},
    {"too long in the queue", "expired", 0},
    {"in queue too long", "expired", 0},
    {"queue timeout", "expired", 0},
    {"been in the queue", "expired", 0},
    {"have been failing for", "expired", 0},
    {"retry period", "expired", 0},
    {"will be retried for", "expired", 0},
    {"did not accept our requests to connect", "expired", 0},
    {"delivery failed 20 attempts", "expired", 0},
    {"failed attempts", "expired", 0},
    {"could not find a gateway", "expired", 0},
    /* the network */
    {"connection refused", "networkerror", 0},
    {"connection timed out", "networkerror", 0},
    {"connection reset", "networkerror", 0},
    {"lost connection", "networkerror", 0},
    {"network is unreachable", "networkerror", 0},
    {"no route to host", "networkerror", 0},
    {"not reachable", "networkerror", 0},
    {"timed out", "networkerror", WEAK},
    {"timeout", "networkerror", WEAK},
    {"could not connect", "networkerror", 0},
    {"unable to connect", "networkerror", 0},
    {"temporary lookup failure", "networkerror", 0},
    {"dns error", "networkerror", 0},
    {"dns lookup", "networkerror", 0},
    {"mail loops back", "networkerror", 0},
    {"mail loop", "networkerror", 0},
    {"loop detected", "networkerror", 0},
    {"routing loop", "networkerror", 0},
    {"too many hops", "networkerror", 0},
    /* greylisting */
    {"greylist", "greylisted", 0},
    {"graylist", "greylisted", 0},
    {"grey-list", "greylisted", 0},
    /* policy, after every more specific wording */
    {"policy", "policyviolation", WEAK},
    {"violation", "policyviolation", WEAK},
    {"prohibited", "policyviolation", WEAK},
    {"not permitted", "policyviolation", WEAK},
    {"not allowed", "policyviolation", WEAK},
    {"not authorized", "policyviolation", WEAK},
    {"blocked", "blocked", WEAK},
    {"refused", "blocked", WEAK},
    {"filtered", "filtered", WEAK},
    /* the receiving system */
    {"mailer error", "mailererror", 0},
    {"unknown mailer", "mailererror", 0},
    {"command failed", "mailererror", 0},
    {"command died", "mailererror", 0},
    {"program exited", "mailererror", 0},
    {"exit status", "mailererror", 0},
    {"exited with", "mailererror", 0},
    {"pipe to", "mailererror", 0},
    {"syntax error", "syntaxerror", 0},
    {"not implemented", "syntaxerror", 0},
    {"command unrecognized", "syntaxerror", 0},
    {"unrecognized command", "syntaxerror", 0},
    {"system error", "systemerror", 0},
    {"internal error", "systemerror", 0},
    {"server error", "systemerror", WEAK},
    {"configuration error", "systemerror", 0},
    {"local error", "systemerror", 0},
    {"temporary failure", "systemerror", WEAK},
    {"temporarily unavailable", "systemerror", WEAK},
    {"service unavailable", "systemerror", WEAK},
    {"try again later", "systemerror", WEAK},
    {"resources", "systemerror", WEAK},
    {"currently unavailable", "systemerror", WEAK},
    {"transaction failed", "systemerror", WEAK},
    /* a bare refusal, said of the message or the sender */
    /* Postfix's prefix of every recipient restriction: user unknown only when nothing
       else in the text says why */
    {"recipient address rejected", "userunknown", WEAK},
    {"recipient rejected", "userunknown", WEAK},
    {"address rejected", "userunknown", WEAK},
    {"rejected", "rejected", WEAK},
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
			/* a transcript quotes the successes before the failure: a 2.x.x is kept
			   only when no 4.x.x or 5.x.x follows */
			if (c == 2 && out[0])
				continue;
			snprintf(out, BL_BOUNCE_STATUS_MAX, "%d.%d.%d", c, s, d);
			if (c != 2)
				return 1;
		}
	}
	return out[0] != '\0';
}

/* A reply code and status that a multi-line SMTP reply repeats at the head of each line
 * ("550-5.7.1 ", "550 5.7.1 "): a 4xx/5xx code followed by '-' or by a space and a status.
 * Returns the bytes it spans with the spaces after it, else 0. */
static size_t continuation_prefix(const char *p)
{
	if ((p[0] != '4' && p[0] != '5') || p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9')
		return 0;
	size_t i = 3;
	if (p[i] == '-') {
		i++;
	} else if (p[i] == ' ') {
		int c, sub, det;
		size_t used;
		if (!parse_status(p + 4, &c, &sub, &det, &used))
			return 0;
		i = 4 + used;
	} else {
		return 0;
	}
	int c, sub, det;
	size_t used;
	if (parse_status(p + i, &c, &sub, &det, &used))
		i += used;
	while (p[i] == ' ')
		i++;
	return i;
}

/* Lowercase @in into @out (@size bytes) with whitespace runs folded to one space, and the
 * reply codes a multi-line reply repeats inside the text left out, so that the wording it
 * splits over lines reads as one phrase. */
static void fold(const char *in, char *out, size_t size)
{
	size_t o = 0;
	int space = 1, seen_code = 0;
	for (const char *p = in; *p && o + 1 < size; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			if (!space)
				out[o++] = ' ';
			space = 1;
			continue;
		}
		if (space) {
			size_t k = continuation_prefix(p);
			if (k && seen_code) {
				p += k - 1;
				continue;
			}
			if (k)
				seen_code = 1;
		}
		space = 0;
		out[o++] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
	}
	out[o] = '\0';
}

/* The phrase @low (folded) says: the first that is not WEAK in table order, else the first
 * WEAK one; NULL when none occurs. */
static const struct phrase *text_phrase(const char *low)
{
	const struct phrase *weak = NULL;
	for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++) {
		if (weak && phrases[i].strength == WEAK)
			continue;
		if (strstr(low, phrases[i].text)) {
			if (phrases[i].strength != WEAK)
				return &phrases[i];
			weak = &phrases[i];
		}
	}
	return weak;
}

/* The stage of the SMTP dialogue the text says the refusal came at: 1 for the connection
 * or the greeting (our sending host was refused), 2 for MAIL FROM (our sender was refused),
 * 0 when it says nothing or names a later stage. Exim says "after MAIL FROM:", "after
 * initial connection"; Postfix "(in reply to MAIL FROM command)", "refused to talk to me";
 * qmail "my name was rejected". */
static int refusal_stage(const char *low)
{
	static const char *const conn[] = {"after initial connection",
	                                   "in reply to initial greeting",
	                                   "refused to talk to me",
	                                   "my name was rejected",
	                                   "in reply to helo",
	                                   "in reply to ehlo",
	                                   "after helo",
	                                   "after ehlo",
	                                   ">>> helo",
	                                   ">>> ehlo",
	                                   NULL};
	/* Sendmail's transcript quotes the command the reply answered: ">>> MAIL From:<...>" */
	static const char *const from[] = {"after mail from", "in reply to mail from",
	                                   ">>> mail from", NULL};
	for (size_t i = 0; conn[i]; i++)
		if (strstr(low, conn[i]))
			return 1;
	for (size_t i = 0; from[i]; i++)
		if (strstr(low, from[i]))
			return 2;
	return 0;
}

static void put_reason(char reason[BL_BOUNCE_REASON_MAX], const char *r)
{
	snprintf(reason, BL_BOUNCE_REASON_MAX, "%s", r);
}

/* @text without what names an address, into @out (@size bytes): spans in <> or "" and
 * words with an '@', each left as one blank. A refusal quotes the recipient, and a quoted
 * local part may hold any words ("sending quota"@example.org). */
static void drop_addresses(const char *text, char *out, size_t size)
{
	size_t o = 0;
	for (const char *p = text; *p && o + 2 < size;) {
		const char *end = NULL;
		if (*p == '<' || *p == '"')
			end = strchr(p + 1, *p == '<' ? '>' : '"');
		if (!end) { /* a word: up to the next blank or quote */
			size_t n = strcspn(p, " \t\r\n<\"");
			if (n == 0) {
				out[o++] = *p++;
				continue;
			}
			if (!memchr(p, '@', n)) {
				if (n > size - 2 - o)
					n = size - 2 - o;
				memcpy(out + o, p, n);
				o += n;
			}
			p += n;
			continue;
		}
		out[o++] = ' ';
		p = end + 1;
	}
	out[o] = '\0';
}

int bl_bounce_account_refusal(const char *text)
{
	char bare[2048], low[2048], status[BL_BOUNCE_STATUS_MAX];
	int c, sub, det;
	if (!text || !*text)
		return 0;
	drop_addresses(text, bare, sizeof(bare));
	/* a status about the address (x.1.x but the sender's x.1.7/x.1.8 and Microsoft's
	   x.1.90 and up) or the mailbox (x.2.1-4: disabled, full, too long, list expansion;
	   not the generic x.2.0) is the recipient's */
	if (bl_bounce_status_from_text(bare, status) &&
	    parse_status(status, &c, &sub, &det, NULL) &&
	    ((sub == 1 && det != 7 && det != 8 && det < 90) || (sub == 2 && det >= 1 && det <= 4)))
		return 0;
	fold(bare, low, sizeof(low));
	/* a relay passing on what the recipient's server said: that server's words */
	static const char *const relayed[] = {"recipient address rejected",
	                                      " said:", "in reply to rcpt to",
	                                      "in reply to end of data", "in reply to data"};
	for (size_t i = 0; i < sizeof(relayed) / sizeof(relayed[0]); i++)
		if (strstr(low, relayed[i]))
			return 0;
	const struct phrase *ph = text_phrase(low);
	return ph && ph->strength == ACCOUNT;
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
	char low[2048] = "";
	if (diagnostic)
		fold(diagnostic, low, sizeof(low));
	const struct phrase *ph = low[0] ? text_phrase(low) : NULL;
	const char *r = ph ? ph->reason : NULL;
	const char *sr = have_status ? status_reason(c, sub, det) : NULL;
	/* Generic wording ("rejected", "refused", "Recipient address rejected:" before a cause
	   we do not know) gives way to any status that says more. */
	if (sr && ph && ph->strength == WEAK)
		r = sr;
	/* A status whose detail is unambiguous about the address wins over looser wording. */
	if (sr && r && strcmp(sr, r) != 0 && !(ph && ph->strength >= STRONG)) {
		int strong_status = (sub == 1 && (det == 1 || det == 2 || det == 6 || det == 10)) ||
		                    (sub == 2 && (det == 1 || det == 2)) ||
		                    (sub == 4 && det == 7) || (sub == 7 && det == 13) ||
		                    (sub == 7 && det >= 20 && det <= 27);
		int weak_text = strcmp(r, "policyviolation") == 0 || strcmp(r, "blocked") == 0 ||
		                strcmp(r, "systemerror") == 0 || strcmp(r, "networkerror") == 0 ||
		                strcmp(r, "filtered") == 0 || strcmp(r, "userunknown") == 0 ||
		                strcmp(r, "hostunknown") == 0 || strcmp(r, "expired") == 0;
		/* x.2.1 is "mailbox disabled", yet many servers send it with "User unknown":
		   the wording names the cause */
		if (sub == 2 && det == 1 && strcmp(r, "userunknown") == 0)
			weak_text = 0;
		/* 421 is the service closing the channel (RFC 5321 4.2.3), said of the session,
		   never of one mailbox: a mailbox status beside it does not outweigh the words
		   ("421 4.2.1 Service refused, please try later") */
		if (reply_code == 421 && (sub == 1 || sub == 2))
			strong_status = 0;
		if (strong_status && weak_text)
			r = sr;
	}
	/* Refused at the connection or at MAIL FROM: our sending host or our sender was
	   refused, whatever the wording says about an address or a mailbox. */
	int stage = low[0] ? refusal_stage(low) : 0;
	if (stage && (!r || strcmp(r, "userunknown") == 0 || strcmp(r, "hostunknown") == 0 ||
	              strcmp(r, "suspend") == 0 || strcmp(r, "mailboxfull") == 0 ||
	              strcmp(r, "hasmoved") == 0 || strcmp(r, "notaccept") == 0 ||
	              strcmp(r, "expired") == 0 || strcmp(r, "undefined") == 0 ||
	              strcmp(r, "syntaxerror") == 0))
		r = stage == 1 ? "blocked" : "rejected";
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
