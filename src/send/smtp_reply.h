/*
 * SMTP replies (RFC 5321 4.2) as bulletin's own client reads them: a pure,
 * incremental parser, bytes in and complete replies out, with no I/O, so
 * it is fuzzed (fuzz/fuzz_smtp_reply.c) and tested on its own. It holds at
 * most one partial line (BL_SMTP_LINE_MAX bytes) and gathers what a client
 * needs while the lines go by: the code, the first line, the EHLO keywords
 * (RFC 5321 4.1.1.1) and a queue id. Input may arrive split anywhere: the
 * replies that come out do not depend on how the bytes were cut.
 * Used by smtpc.c; smtp.c (libcurl) shares bl_smtp_queue_id.
 */
#ifndef BL_SEND_SMTP_REPLY_H
#define BL_SEND_SMTP_REPLY_H

#include <stddef.h>
#include <stdint.h>

/* Limits on what a relay may send: bytes per reply line, line end included
 * (RFC 5321 4.5.3.1.5 says 512; we are lenient), and lines per reply. */
#define BL_SMTP_LINE_MAX  4096
#define BL_SMTP_LINES_MAX 100

/* EHLO keywords (struct bl_smtp_reply.ext). */
enum {
	BL_SMTP_EXT_PIPELINING = 1 << 0, /* RFC 2920 */
	BL_SMTP_EXT_SMTPUTF8 = 1 << 1,   /* RFC 6531 */
	BL_SMTP_EXT_8BITMIME = 1 << 2,   /* RFC 6152 */
	BL_SMTP_EXT_SIZE = 1 << 3,       /* RFC 1870 */
	BL_SMTP_EXT_STARTTLS = 1 << 4,   /* RFC 3207 */
	BL_SMTP_EXT_AUTH = 1 << 5,       /* RFC 4954 */
};

/* SASL mechanisms listed by AUTH (struct bl_smtp_reply.auth). */
enum { BL_SMTP_AUTH_PLAIN = 1 << 0, BL_SMTP_AUTH_LOGIN = 1 << 1 };

struct bl_smtp_reply {
	int code;          /* 200..599 */
	unsigned lines;    /* 1..BL_SMTP_LINES_MAX */
	char text[256];    /* the first line without its line end, code included, control
	                      bytes shown as '?'; truncated */
	char queue_id[64]; /* from the first line saying "queued as ID" or "id=ID"; else "" */
	unsigned ext;      /* BL_SMTP_EXT_* named by the lines after the first */
	unsigned auth;     /* BL_SMTP_AUTH_* listed on AUTH lines */
	uint64_t size;     /* the number after SIZE, bytes (0: none given); saturates */
};

/* Parser state; caller-owned, about 4.5 KiB. */
struct bl_smtp_reply_parser {
	struct bl_smtp_reply cur; /* the reply being read */
	int in_reply;             /* cur has at least one line */
	int err;                  /* sticky -BL_EINVAL after a protocol error */
	size_t len;               /* bytes of a partial line in `line` */
	char line[BL_SMTP_LINE_MAX];
};

/* bl_smtp_reply_parser_init - make @p ready for the first byte of a reply stream. */
void bl_smtp_reply_parser_init(struct bl_smtp_reply_parser *p);

/*
 * bl_smtp_reply_feed - read @n bytes at @buf. A line ends at LF (a CR
 * before it is dropped); a reply is lines "DDD-text" ending with one line
 * "DDD text" or "DDD" (RFC 5321 4.2.1), all with the same code.
 * Returns 1 when a reply is complete: it is in *@out and *@used says how
 * many bytes of @buf it took (call again with the rest); 0 when all @n
 * bytes were taken without completing one (*@used = @n; a partial line is
 * kept); -BL_EINVAL on a protocol error: a line that does not start with a
 * code 200..599 followed by ' ', '-' or the line end, a code that differs
 * from the reply's first line, a line longer than BL_SMTP_LINE_MAX or a
 * reply of more than BL_SMTP_LINES_MAX lines. The error sticks until
 * bl_smtp_reply_parser_init (the stream is out of step). Never allocates.
 */
int bl_smtp_reply_feed(struct bl_smtp_reply_parser *p, const char *buf, size_t n, size_t *used,
                       struct bl_smtp_reply *out);

/*
 * bl_smtp_queue_id - the queue id in one reply line of @n bytes: the token
 * after "queued as " (Postfix) or "id=" (Exim), case-insensitive, made of
 * letters, digits, '-', '_' and '.', trailing dots dropped. Writes it
 * NUL-terminated to @out (@size bytes); "" when there is none or it does
 * not fit. Returns 1 when found, else 0.
 */
int bl_smtp_queue_id(const char *line, size_t n, char *out, size_t size);

#endif
