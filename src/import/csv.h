/*
 * Streaming CSV reader on libcsv: RFC 4180 quoting, a UTF-8 byte-order mark
 * stripped, the delimiter detected among ',' ';' and TAB from the first
 * record (or forced), CRLF, LF or CR line ends, with or without a final
 * newline. Memory stays bounded by the longest record, never the file.
 * Every record is reported with the physical line it starts on, and
 * records whose bytes are not UTF-8 are flagged rather than passed on as
 * mojibake. Used by the import; knows nothing about subscribers.
 */
#ifndef BL_IMPORT_CSV_H
#define BL_IMPORT_CSV_H

#include <stddef.h>
#include <stdio.h>

#include "util/err.h"

/* Limits: one field, fields per record (bytes, count). */
#define BL_CSV_FIELD_MAX  65536
#define BL_CSV_FIELDS_MAX 1024

/*
 * Bytes bl_csv_read asks fread for at a time. Together with the limits above
 * this bounds its memory: one chunk, plus the longest record (at most
 * (BL_CSV_FIELD_MAX + 1) * BL_CSV_FIELDS_MAX bytes). Exposed for tests that
 * put line ends on a chunk boundary.
 */
#define BL_CSV_CHUNK 16384

struct bl_csv_opts {
	/* ',' ';' '\t' (or any byte but '"', CR and LF) to force; 0 to detect */
	char delimiter;
};

/* One record, valid only during the callback. */
struct bl_csv_record {
	size_t line;               /* physical line (1-based) where the record starts */
	size_t nfields;            /* number of fields, >= 1 */
	const char *const *fields; /* field texts, each NUL-terminated, quotes removed */
	const size_t *lens;        /* their exact lengths in bytes; fields[i][lens[i]] == '\0' */
	int bad_utf8;              /* 1 if some field is not valid UTF-8 or holds a NUL byte */
	size_t bad_field;          /* index (0-based) of the first such field; 0 if !bad_utf8 */
};

/*
 * Called once per record, in file order. Return 0 to go on; any other value
 * stops reading and is returned by bl_csv_read.
 */
typedef int (*bl_csv_record_fn)(void *arg, const struct bl_csv_record *rec);

/*
 * bl_csv_read - read all records from @f (opened for reading, binary) from
 * its current position to the end and hand each to @fn, in order (RFC 4180
 * section 2, with the tolerances below). @f is read in BL_CSV_CHUNK pieces,
 * never slurped; it may be a pipe.
 * @opts: may be NULL (detect the delimiter).
 * @delimiter_out: if not NULL, receives the delimiter used, as soon as it is
 * known (before the first callback); untouched if reading fails before that.
 * @d: may be NULL; on an error it receives a message naming the line.
 *
 * What is read:
 * - a UTF-8 byte-order mark at the start is dropped;
 * - the delimiter is the most frequent of ',' ';' TAB outside quotes in the
 *   first non-empty line (ties in that order; ',' if none);
 * - CRLF, LF and CR end lines; a final line end is optional;
 * - empty lines and lines of only spaces/tabs are skipped;
 * - unquoted fields lose leading and trailing spaces and tabs (unless the
 *   delimiter is that byte); quoted fields keep everything between the quotes,
 *   line ends included verbatim, with "" read as ";
 * - tolerated: a quote inside an unquoted field (5'10", John "Jo" Doe) is
 *   kept as a literal character: the field was not quoted, so it cannot end
 *   early and nothing after it is misread;
 * - malformed (-BL_EINVAL): text after the closing quote of a quoted field
 *   ("ab"c, "ab" "), and a quoted field still open at end of input. Going
 *   on would swallow the following delimiters and lines into one field.
 * A record's line is the physical line of its first byte; CRLF counts as
 * one line end, also inside quoted fields.
 *
 * Returns 0 at end of input; the callback's nonzero value if it stopped
 * (no further callback is made); -BL_EENCODING if the input is UTF-16/UTF-32
 * (by BOM or NUL-byte pattern), -BL_ELIMIT if a field or record exceeds the
 * limits, -BL_EINVAL for malformed quoting or a forced delimiter that cannot
 * be one, -BL_EIO on a read error. Records before an error have been passed
 * to @fn already; the caller decides whether to keep what it did with them.
 */
int bl_csv_read(FILE *f, const struct bl_csv_opts *opts, bl_csv_record_fn fn, void *arg,
                char *delimiter_out, struct bl_diag *d);

/*
 * bl_csv_check_encoding - scan @f from its current position to the end for
 * text encoding problems, then seek back. Decides whether the file is UTF-8
 * (BOM allowed), UTF-16/32, or a single-byte legacy encoding (Latin-1,
 * Windows-1252...). Reads in BL_CSV_CHUNK pieces; memory does not grow
 * with the file.
 * A file is legacy when it has bytes that are not UTF-8 (RFC 3629) and they
 * outnumber its valid multi-byte UTF-8 sequences: a Latin-1 file has no or
 * only accidental valid sequences, while a UTF-8 file with a few broken rows
 * has many more good sequences than bad ones.
 * The likely encoding is Windows-1252 when a non-UTF-8 byte is one of its
 * printable characters in 0x80-0x9F (curly quotes, euro sign, dashes),
 * otherwise ISO-8859-1.
 * Returns 0 for UTF-8 (possibly with isolated bad rows, which bl_csv_read
 * flags per record), -BL_EENCODING for UTF-16/32 or a legacy single-byte
 * file with @d naming the likely encoding, the first offending line, and the
 * iconv command to convert it; -BL_EIO if @f cannot be read or is not
 * seekable. The position of @f is restored in every case but a failing seek.
 */
int bl_csv_check_encoding(FILE *f, struct bl_diag *d);

#endif
