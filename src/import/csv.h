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

struct bl_csv_opts {
	char delimiter; /* ',' ';' '\t' (or any byte) to force; 0 to detect */
};

/* One record, valid only during the callback. */
struct bl_csv_record {
	size_t line;               /* physical line (1-based) where the record starts */
	size_t nfields;            /* number of fields, >= 1 */
	const char *const *fields; /* field texts, each NUL-terminated, quotes removed */
	const size_t *lens; /* their lengths in bytes (a field may contain NUL? no: see bad) */
	int bad_utf8;       /* 1 if some field is not valid UTF-8 (fields then unreliable) */
	size_t bad_field;   /* index of the first bad field when bad_utf8 */
};

/*
 * Called once per record, in file order. Return 0 to go on; any other value
 * stops reading and is returned by bl_csv_read.
 */
typedef int (*bl_csv_record_fn)(void *arg, const struct bl_csv_record *rec);

/*
 * bl_csv_read - read all records from @f (opened for reading, binary) and
 * hand each to @fn. Empty lines are skipped.
 * @opts: may be NULL (detect the delimiter).
 * @delimiter_out: if not NULL, receives the delimiter used.
 * Returns 0 at end of input; the callback's nonzero value if it stopped;
 * -BL_EENCODING if the input is UTF-16/UTF-32 (by BOM or NUL-byte pattern),
 * -BL_ELIMIT if a field or record exceeds the limits, -BL_EINVAL for
 * malformed quoting that libcsv in strict mode rejects, -BL_EIO on a read
 * error; @d then says what and on which line.
 */
int bl_csv_read(FILE *f, const struct bl_csv_opts *opts, bl_csv_record_fn fn, void *arg,
                char *delimiter_out, struct bl_diag *d);

/*
 * bl_csv_check_encoding - scan @f from its current position to the end for
 * text encoding problems, then seek back. Decides whether the file is UTF-8
 * (BOM allowed), UTF-16/32, or a single-byte legacy encoding (Latin-1,
 * Windows-1252...: high bytes but no valid multi-byte UTF-8 sequence).
 * Returns 0 for UTF-8 (possibly with isolated bad rows, which bl_csv_read
 * flags per record), -BL_EENCODING for UTF-16/32 or a legacy single-byte
 * file with @d naming the likely encoding, the first offending line, and the
 * iconv command to convert it; -BL_EIO if @f cannot be read or is not seekable.
 */
int bl_csv_check_encoding(FILE *f, struct bl_diag *d);

#endif
