/* CSV output (RFC 4180) for exports, escaping through libcsv. */
#ifndef BL_IMPORT_CSV_WRITE_H
#define BL_IMPORT_CSV_WRITE_H

#include <stddef.h>
#include <stdio.h>

/*
 * bl_csv_write_field - write one field of @len bytes to @f, quoted (with
 * quotes doubled, via libcsv) only when it holds a comma, a quote, CR, LF,
 * or leading/trailing spaces; preceded by a comma unless @first.
 * Returns 0, or -BL_EIO when writing fails.
 */
int bl_csv_write_field(FILE *f, const char *s, size_t len, int first);

/* bl_csv_write_end - end the record with CRLF (RFC 4180). 0 or -BL_EIO. */
int bl_csv_write_end(FILE *f);

#endif
