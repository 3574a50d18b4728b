/*
 * Email address validation and normalisation: the one validator every way
 * into bulletin uses (CLI, CSV import, web forms, API). It accepts an RFC
 * 5321 Mailbox (§4.1.2: Local-part "@" Domain) with a dot-atom or
 * quoted-string local part, refuses address literals, comments and folding
 * whitespace, enforces the §4.5.3.1 limits (local part 64 octets, domain 255,
 * whole path 254), converts IDN domains to their A-label with libidn2
 * (IDNA2008, UTS #46 transitional off), and refuses control characters and
 * invisible characters with a message that names the problem.
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
	BL_ADDR_EMPTY,          /* nothing left after trimming spaces */
	BL_ADDR_NO_AT,          /* no '@' outside a quoted string */
	BL_ADDR_LOCAL_EMPTY,    /* nothing before '@' */
	BL_ADDR_LOCAL_TOO_LONG, /* local part over 64 octets */
	BL_ADDR_LOCAL_SYNTAX,   /* bad character or dot placement in a dot-atom local part */
	BL_ADDR_QUOTED_SYNTAX,  /* malformed quoted-string local part */
	BL_ADDR_LOCAL_UTF8,     /* UTF-8 local part while smtputf8 is off */
	BL_ADDR_DOMAIN_EMPTY,   /* nothing after '@' */
	BL_ADDR_DOMAIN_LITERAL, /* [192.0.2.1] address literal: not accepted */
	BL_ADDR_DOMAIN_SYNTAX, /* bad label syntax: empty label, leading/trailing '-', bad character
	                        */
	BL_ADDR_DOMAIN_TOO_LONG, /* domain over 255 octets, or a label over 63 */
	BL_ADDR_DOMAIN_IDNA,     /* libidn2 refused the internationalised domain */
	BL_ADDR_TOO_LONG,        /* whole address over 254 octets */
	BL_ADDR_CONTROL,         /* control character, CR, LF or NUL */
	BL_ADDR_INVISIBLE,       /* U+00A0, U+200B..U+200D, U+FEFF (or similar invisible) */
	BL_ADDR_BAD_UTF8,        /* bytes that are not UTF-8 */
	BL_ADDR_COMMENT,         /* RFC 5322 comment or folding whitespace */
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
 * @in, @len: the address as typed, UTF-8, not necessarily NUL-terminated;
 *            leading and trailing ASCII spaces are trimmed first.
 * @flags:    BL_ADDRESS_* bits.
 * @out:      filled on success; untouched on failure.
 * @problem:  if not NULL, set to the diagnosis (BL_ADDR_OK on success).
 * @d:        if not NULL, receives a one-line English message a person can
 *            act on, naming the problem (e.g. "local part is 65 octets; the
 *            limit is 64", "invisible character U+200B at position 4").
 * Returns 0, or -BL_EINVAL when the address is refused.
 */
int bl_address_parse(const char *in, size_t len, unsigned flags, struct bl_address *out,
                     enum bl_address_problem *problem, struct bl_diag *d);

/* bl_address_problem_name - stable short name of @p ("local-too-long", ...). */
const char *bl_address_problem_name(enum bl_address_problem p);

#endif
