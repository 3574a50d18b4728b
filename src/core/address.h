/*
 * Email address validation and normalisation: the one validator every way
 * into bulletin uses (CLI, CSV import, web forms, API). It accepts an RFC
 * 5321 Mailbox (§4.1.2: Local-part "@" Domain) with a dot-atom or
 * quoted-string local part, refuses address literals, comments and folding
 * whitespace, enforces the §4.5.3.1 limits (local part 64 octets, domain 255,
 * whole path 254), converts IDN domains to their A-label with libidn2
 * (IDNA2008, UTS #46 transitional off), and refuses control characters and
 * invisible characters with a message that names the problem.
 *
 * Policy decisions beyond the RFC grammar:
 * - Domains follow the hostname rules (RFC 1123 §2.1): letters, digits and
 *   hyphens, no label starting or ending with '-', labels 1..63 octets, no
 *   trailing root dot. A single-label domain (user@localhost) is accepted: it
 *   is valid RFC 5321 and the relay decides. A top-level label of digits only
 *   (user@192.0.2.1, user@example.123) is refused (RFC 3696 §2).
 * - Each label is judged on its own: an ASCII label by the hostname rules
 *   (so "ab--cd" is accepted), an "xn--" label must also be a valid A-label,
 *   and a label holding non-ASCII is converted by libidn2 (IDNA2008: emoji,
 *   symbols and unassigned code points are refused).
 * - A quoted local part is stored with minimal quoting (§4.1.2): "john" and
 *   "jo\hn" become john, "john smith" stays quoted; so equal mailboxes share
 *   one key.
 *   The empty quoted local part "" is refused (no real mailbox is named so).
 * - Limits are counted in octets of the normalised form the relay sees (the
 *   domain as A-labels), except the local part, counted as typed.
 * - The uniqueness key lowercases ASCII letters only. A non-ASCII local part
 *   (smtputf8) is kept byte for byte: no Unicode normalisation or case
 *   folding, so an NFC and an NFD spelling of the same name are two keys.
 */
#ifndef BL_CORE_ADDRESS_H
#define BL_CORE_ADDRESS_H

#include <stddef.h>

#include "util/err.h"

/* Longest address in octets: RFC 5321 §4.5.3.1.3 path limit 256 minus "<>". */
#define BL_ADDRESS_MAX 254

/* Flags for bl_address_parse. */
enum {
	/* Accept UTF-8 in the local part (RFC 6531 SMTPUTF8); config `smtputf8`. */
	BL_ADDRESS_SMTPUTF8 = 1 << 0,
};

/* Why an address was refused: one value per distinct diagnosis. */
enum bl_address_problem {
	BL_ADDR_OK = 0,
	BL_ADDR_EMPTY,           /* nothing left after trimming spaces and tabs */
	BL_ADDR_NO_AT,           /* no '@' outside a quoted string */
	BL_ADDR_LOCAL_EMPTY,     /* nothing before '@', or the quoted local part "" */
	BL_ADDR_LOCAL_TOO_LONG,  /* local part over 64 octets */
	BL_ADDR_LOCAL_SYNTAX,    /* bad character or dot placement in a dot-atom local part */
	BL_ADDR_QUOTED_SYNTAX,   /* malformed quoted-string local part */
	BL_ADDR_LOCAL_UTF8,      /* UTF-8 local part while smtputf8 is off */
	BL_ADDR_DOMAIN_EMPTY,    /* nothing after '@' */
	BL_ADDR_DOMAIN_LITERAL,  /* [192.0.2.1] address literal: not accepted */
	BL_ADDR_DOMAIN_SYNTAX,   /* bad character, empty label, '-' at a label's end, ... */
	BL_ADDR_DOMAIN_TOO_LONG, /* domain over 255 octets, or a label over 63 */
	BL_ADDR_DOMAIN_IDNA,     /* libidn2 refused a label, or an xn-- label is no A-label */
	BL_ADDR_TOO_LONG,        /* whole address over 254 octets */
	BL_ADDR_CONTROL,         /* C0 control (NUL, TAB, LF, CR ...), DEL or C1 control */
	BL_ADDR_INVISIBLE,       /* U+00A0, U+200B..D, U+2060, U+FEFF, other invisibles */
	BL_ADDR_BAD_UTF8,        /* bytes that are not UTF-8 */
	BL_ADDR_COMMENT,         /* RFC 5322 comment, or a space outside quotes (FWS) */
};

/* A valid, normalised address. All strings NUL-terminated, owned by the struct. */
struct bl_address {
	char email[BL_ADDRESS_MAX + 1]; /* local@domain, domain as lowercase A-label: for SMTP */
	char key[BL_ADDRESS_MAX + 1]; /* email with ASCII letters lowercased: the uniqueness key */
	char display[4 * BL_ADDRESS_MAX + 1]; /* local@domain, domain as U-label: for people */
	size_t local_len;                     /* octets of the local part in email */
};

/*
 * bl_address_parse - validate and normalise one address.
 * @in, @len: the address as typed, UTF-8, not necessarily NUL-terminated and
 *            possibly holding NUL bytes (refused); @in may be NULL when @len
 *            is 0. Leading and trailing ASCII spaces and tabs are trimmed
 *            first; everything else counts.
 * @flags:    BL_ADDRESS_* bits.
 * @out:      filled on success; untouched on failure.
 * @problem:  if not NULL, set to the diagnosis (BL_ADDR_OK on success).
 * @d:        if not NULL, receives a one-line English message a person can
 *            act on, naming the problem (e.g. "the local part is 65 octets;
 *            the limit is 64", "invisible character U+200B (zero width space)
 *            at position 4; ..."); emptied on success. Positions count
 *            characters (not bytes) from 1 at the start of @in, before trimming.
 * When several problems exist, the first one met reading left to right is
 * reported, except that bad UTF-8, control and invisible characters are
 * reported first and the whole-address limit last.
 * Thread-safe: no state beyond the arguments (libidn2 keeps none either).
 * Returns 0, or -BL_EINVAL when the address is refused.
 */
int bl_address_parse(const char *in, size_t len, unsigned flags, struct bl_address *out,
                     enum bl_address_problem *problem, struct bl_diag *d);

/* bl_address_problem_name - stable short name of @p ("local-too-long", ...). */
const char *bl_address_problem_name(enum bl_address_problem p);

#endif
