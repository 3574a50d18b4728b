/*
 * Streaming CSV reader on libcsv (the only file that includes <csv.h>).
 * The input is read in BL_CSV_CHUNK pieces and handed to libcsv one line at
 * a time (each piece ends at a CR or LF, or at the chunk end), so after each
 * csv_parse() call we know which physical line we are on and whether a
 * record ended there. libcsv runs with CSV_STRICT | CSV_STRICT_FINI; the one
 * strict error we tolerate (a quote inside an unquoted field) is replayed
 * through libcsv with strict mode off for that single byte. Field length is
 * capped through libcsv's realloc hook, so a runaway quoted field cannot
 * grow past the limit before we see it. See csv.h for the accepted syntax.
 */
#include "import/csv.h"

#include <csv.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "util/buf.h"
#include "util/utf8.h"
#include "util/xalloc.h"

/* libcsv's field buffer: the field plus a closing quote, trailing blanks, NUL. */
#define ENTRY_MAX (BL_CSV_FIELD_MAX + 256)

/* The record's field texts, each followed by a NUL; enough for all limits. */
#define RECORD_MAX (((size_t)BL_CSV_FIELD_MAX + 1) * BL_CSV_FIELDS_MAX)

/* Bytes of the first chunk examined for the UTF-16/32 NUL pattern. */
#define SNIFF_MAX 4096

struct reader {
	struct csv_parser csv;
	unsigned char delim;
	bl_csv_record_fn fn;
	void *arg;
	struct bl_diag *d;

	struct bl_buf text;  /* field bytes of the current record, NUL after each */
	size_t *offs;        /* start of each field in text */
	size_t *lens;        /* length of each field */
	const char **ptrs;   /* built from offs when the record is complete */
	size_t nfields, cap; /* fields so far, room in offs/lens/ptrs */

	size_t line;     /* physical line of the next byte (1-based) */
	int prev_cr;     /* the last piece was a lone CR (an LF next is its pair) */
	int in_record;   /* a record has started and not ended */
	size_t rec_line; /* line where the current record started */

	int rc; /* first error (negative) or callback stop value; sticky */
};

/*
 * libcsv grows its field buffer through this; refusing makes csv_parse stop
 * with CSV_ENOMEM, which we report as the field limit (real out-of-memory
 * aborts in bl_xrealloc and never gets here).
 */
static void *entry_realloc(void *p, size_t size)
{
	if (size > ENTRY_MAX)
		return NULL;
	return bl_xrealloc(p, size);
}

/* Blank as libcsv's default space test sees it: skipped outside fields. */
static int is_blank(unsigned char c, unsigned char delim)
{
	return (c == ' ' || c == '\t') && c != delim;
}

static void grow_fields(struct reader *r)
{
	size_t cap = r->cap ? r->cap * 2 : 16;
	r->offs = bl_xrealloc(r->offs, cap * sizeof(*r->offs));
	r->lens = bl_xrealloc(r->lens, cap * sizeof(*r->lens));
	r->ptrs = bl_xrealloc(r->ptrs, cap * sizeof(*r->ptrs));
	r->cap = cap;
}

/* libcsv field callback: append one field to the current record. */
static void on_field(void *s, size_t len, void *data)
{
	struct reader *r = data;
	if (r->rc)
		return;
	if (r->nfields == BL_CSV_FIELDS_MAX) {
		r->rc = bl_diag_set(r->d, BL_ELIMIT, "line %zu: record has more than %d fields",
		                    r->rec_line, BL_CSV_FIELDS_MAX);
		return;
	}
	if (len > BL_CSV_FIELD_MAX) {
		r->rc = bl_diag_set(r->d, BL_ELIMIT,
		                    "line %zu: field %zu is longer than %d bytes (record starting "
		                    "on line %zu)",
		                    r->line, r->nfields + 1, BL_CSV_FIELD_MAX, r->rec_line);
		return;
	}
	if (r->nfields == r->cap)
		grow_fields(r);
	r->offs[r->nfields] = r->text.len;
	r->lens[r->nfields] = len;
	if (len)
		bl_buf_add(&r->text, s, len);
	bl_buf_addc(&r->text, '\0');
	if (bl_buf_err(&r->text)) {
		r->rc = bl_diag_set(r->d, BL_ELIMIT, "line %zu: record is too large", r->rec_line);
		return;
	}
	r->nfields++;
}

/* libcsv row callback: the record is complete; hand it to the caller. */
static void on_row(int c, void *data)
{
	struct reader *r = data;
	(void)c;
	if (r->rc == 0 && r->nfields > 0) {
		struct bl_csv_record rec = {
		    .line = r->in_record ? r->rec_line : r->line,
		    .nfields = r->nfields,
		    .fields = r->ptrs,
		    .lens = r->lens,
		};
		for (size_t i = 0; i < r->nfields; i++) {
			r->ptrs[i] = r->text.data + r->offs[i];
			if (!rec.bad_utf8 && (memchr(r->ptrs[i], '\0', r->lens[i]) ||
			                      !bl_utf8_valid(r->ptrs[i], r->lens[i], NULL))) {
				rec.bad_utf8 = 1;
				rec.bad_field = i;
			}
		}
		r->rc = r->fn(r->arg, &rec);
	}
	bl_buf_reset(&r->text);
	r->nfields = 0;
	r->in_record = 0;
}

/* Describe byte @c for a message: printable ASCII as is, else as hex. */
static const char *show_byte(unsigned char c, char out[8])
{
	if (c > ' ' && c < 0x7f)
		snprintf(out, 8, "'%c'", c);
	else
		snprintf(out, 8, "0x%02X", c);
	return out;
}

/*
 * Feed @len bytes (on line r->line) to libcsv, handling its strict errors.
 * Returns r->rc (0 to go on).
 */
static int feed(struct reader *r, const unsigned char *p, size_t len)
{
	while (len > 0 && r->rc == 0) {
		size_t n = csv_parse(&r->csv, p, len, on_field, on_row, r);
		if (r->rc || n == len)
			break;
		if (csv_error(&r->csv) == CSV_EPARSE && p[n] == '"' && !r->csv.quoted) {
			/* A quote inside an unquoted field: keep it literally. */
			csv_set_opts(&r->csv, CSV_STRICT_FINI | CSV_APPEND_NULL);
			size_t one = csv_parse(&r->csv, p + n, 1, on_field, on_row, r);
			csv_set_opts(&r->csv, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL);
			if (one == 1) {
				p += n + 1;
				len -= n + 1;
				continue;
			}
			/* else the field buffer could not grow for it: over the limit */
		}
		if (csv_error(&r->csv) == CSV_ENOMEM) {
			return r->rc = bl_diag_set(
			           r->d, BL_ELIMIT,
			           "line %zu: field %zu is longer than %d bytes (record "
			           "starting on line %zu)%s",
			           r->line, r->nfields + 1, BL_CSV_FIELD_MAX, r->rec_line,
			           r->csv.quoted ? "; is a closing quote missing?" : "");
		}
		char b[8];
		return r->rc = bl_diag_set(r->d, BL_EINVAL,
		                           "line %zu: unexpected %s after the closing quote of "
		                           "field %zu (a quote inside a quoted field must be "
		                           "doubled: \"\")",
		                           r->line, show_byte(p[n], b), r->nfields + 1);
	}
	return r->rc;
}

/*
 * Pass one chunk to libcsv a line at a time, keeping r->line, r->in_record
 * and r->rec_line up to date. Returns r->rc.
 */
static int feed_chunk(struct reader *r, const unsigned char *p, size_t len)
{
	size_t pos = 0;
	while (pos < len && r->rc == 0) {
		size_t end = pos;
		while (end < len && p[end] != '\r' && p[end] != '\n')
			end++;
		int term = end < len;
		size_t seg = end - pos + (size_t)term; /* includes the CR or LF */

		if (!r->in_record) {
			for (size_t i = pos; i < end; i++) {
				if (!is_blank(p[i], r->delim)) {
					r->in_record = 1;
					r->rec_line = r->line;
					break;
				}
			}
		}
		if (feed(r, p + pos, seg))
			break;
		if (term) {
			/* An LF that is all of its piece, right after a lone CR, is CRLF. */
			if (p[end] == '\r' || !(r->prev_cr && seg == 1))
				r->line++;
			r->prev_cr = p[end] == '\r';
		} else {
			r->prev_cr = 0;
		}
		pos += seg;
	}
	return r->rc;
}

/*
 * Recognise UTF-16/UTF-32 at the start of the input: by byte-order mark, or
 * by the NUL bytes that ASCII text has in those encodings. Returns the
 * iconv name of the encoding, or NULL; *@bom says which way it was found.
 */
static const char *sniff_wide(const unsigned char *p, size_t n, int *bom)
{
	*bom = 1;
	if (n >= 4 && p[0] == 0xFF && p[1] == 0xFE && p[2] == 0 && p[3] == 0)
		return "UTF-32LE";
	if (n >= 4 && p[0] == 0 && p[1] == 0 && p[2] == 0xFE && p[3] == 0xFF)
		return "UTF-32BE";
	if (n >= 2 && p[0] == 0xFF && p[1] == 0xFE)
		return "UTF-16LE";
	if (n >= 2 && p[0] == 0xFE && p[1] == 0xFF)
		return "UTF-16BE";
	*bom = 0;

	size_t m = n < SNIFF_MAX ? n : SNIFF_MAX;
	size_t z[4] = {0, 0, 0, 0};
	for (size_t i = 0; i < m; i++)
		if (p[i] == 0)
			z[i % 4]++;
	if (z[0] + z[1] + z[2] + z[3] == 0)
		return NULL;
	/* UTF-32: the top byte is always 0, the next one for the whole BMP. */
	size_t q = m / 4;
	if (q > 0) {
		if (z[3] >= q && z[2] * 10 >= q * 9 && z[0] * 4 < q)
			return "UTF-32LE";
		if (z[0] >= q && z[1] * 10 >= q * 9 && z[3] * 4 < q)
			return "UTF-32BE";
	}
	/* UTF-16: ASCII characters have a 0 high byte, nothing else does. */
	size_t pairs = m / 2;
	size_t zeven = 0, zodd = 0;
	for (size_t i = 0; i + 1 < m; i += 2) {
		zeven += p[i] == 0;
		zodd += p[i + 1] == 0;
	}
	if (zodd * 2 >= pairs && zeven * 8 <= pairs && zodd > 0)
		return "UTF-16LE";
	if (zeven * 2 >= pairs && zodd * 8 <= pairs && zeven > 0)
		return "UTF-16BE";
	return NULL;
}

static int wide_error(struct bl_diag *d, const char *enc, int bom)
{
	return bl_diag_set(d, BL_EENCODING,
	                   "the file is %s (%s), not UTF-8; convert it first, e.g. "
	                   "iconv -f %s -t UTF-8 FILE > FILE-utf8.csv",
	                   enc, bom ? "byte-order mark" : "NUL bytes between ASCII characters",
	                   enc);
}

static int has_utf8_bom(const unsigned char *p, size_t n)
{
	return n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF;
}

/*
 * The most frequent of ',' ';' TAB outside quotes in the first non-empty
 * line of @p (only what is in this chunk). Ties go in that order; ',' if none.
 */
static unsigned char detect_delim(const unsigned char *p, size_t n)
{
	static const unsigned char cand[] = {',', ';', '\t'};
	size_t count[3] = {0, 0, 0};
	int started = 0, quoted = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		if (!started) {
			if (c == ' ' || c == '\r' || c == '\n')
				continue;
			started = 1;
		}
		if (c == '"') {
			quoted = !quoted;
		} else if (!quoted) {
			if (c == '\r' || c == '\n')
				break;
			for (size_t k = 0; k < 3; k++)
				count[k] += c == cand[k];
		}
	}
	size_t best = 0;
	for (size_t k = 1; k < 3; k++)
		if (count[k] > count[best])
			best = k;
	return cand[best];
}

int bl_csv_read(FILE *f, const struct bl_csv_opts *opts, bl_csv_record_fn fn, void *arg,
                char *delimiter_out, struct bl_diag *d)
{
	unsigned char forced = opts ? (unsigned char)opts->delimiter : 0;
	if (forced == '"' || forced == '\r' || forced == '\n')
		return bl_diag_set(d, BL_EINVAL, "0x%02X cannot be the CSV delimiter", forced);

	unsigned char *chunk = bl_xmalloc(BL_CSV_CHUNK);
	size_t n = fread(chunk, 1, BL_CSV_CHUNK, f);
	if (n < BL_CSV_CHUNK && ferror(f)) {
		free(chunk);
		return bl_diag_set(d, BL_EIO, "reading the CSV input failed: %s", strerror(errno));
	}
	int bom;
	const char *wide = sniff_wide(chunk, n, &bom);
	if (wide) {
		free(chunk);
		return wide_error(d, wide, bom);
	}
	size_t start = has_utf8_bom(chunk, n) ? 3 : 0;

	struct reader r = {.fn = fn, .arg = arg, .d = d, .line = 1};
	r.delim = forced ? forced : detect_delim(chunk + start, n - start);
	if (delimiter_out)
		*delimiter_out = (char)r.delim;
	bl_buf_init(&r.text, RECORD_MAX);
	csv_init(&r.csv, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL);
	csv_set_delim(&r.csv, r.delim);
	csv_set_realloc_func(&r.csv, entry_realloc);
	csv_set_free_func(&r.csv, free);
	csv_set_blk_size(&r.csv, 1024);

	int last = n < BL_CSV_CHUNK;
	feed_chunk(&r, chunk + start, n - start);
	while (r.rc == 0 && !last) {
		n = fread(chunk, 1, BL_CSV_CHUNK, f);
		last = n < BL_CSV_CHUNK;
		if (last && ferror(f)) {
			r.rc = bl_diag_set(d, BL_EIO, "line %zu: reading the CSV input failed: %s",
			                   r.line, strerror(errno));
			break;
		}
		feed_chunk(&r, chunk, n);
	}
	if (r.rc == 0 && csv_fini(&r.csv, on_field, on_row, &r) != 0)
		r.rc = bl_diag_set(d, BL_EINVAL,
		                   "line %zu: quoted field %zu of the record starting here has no "
		                   "closing quote (the input ends inside it)",
		                   r.rec_line, r.nfields + 1);

	csv_free(&r.csv);
	bl_buf_finish(&r.text);
	free(r.offs);
	free(r.lens);
	free(r.ptrs);
	free(chunk);
	return r.rc;
}

/* UTF-8 sequence length announced by lead byte @c; 1 for ASCII and bad leads. */
static size_t utf8_need(unsigned char c)
{
	if (c >= 0xC2 && c <= 0xDF)
		return 2;
	if (c >= 0xE0 && c <= 0xEF)
		return 3;
	if (c >= 0xF0 && c <= 0xF4)
		return 4;
	return 1;
}

/* Windows-1252 has a printable character at 0x80-0x9F but these five. */
static int cp1252_only(unsigned char c)
{
	return c >= 0x80 && c <= 0x9F && c != 0x81 && c != 0x8D && c != 0x8F && c != 0x90 &&
	       c != 0x9D;
}

struct enc_scan {
	size_t line;     /* physical line of the next byte */
	int prev_cr;     /* last byte was CR */
	size_t good;     /* valid multi-byte UTF-8 sequences */
	size_t bad;      /* bytes that start no valid sequence */
	size_t bad_line; /* line of the first bad byte */
	int cp1252;      /* a bad byte only Windows-1252 gives meaning to */
};

/*
 * Scan @n bytes at @p; returns how many were consumed: all unless the last
 * bytes may be an incomplete sequence continued in the next chunk (!@eof).
 */
static size_t scan_bytes(struct enc_scan *s, const unsigned char *p, size_t n, int eof)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = p[i];
		if (c < 0x80) {
			if (c == '\n' && !s->prev_cr)
				s->line++;
			else if (c == '\r')
				s->line++;
			s->prev_cr = c == '\r';
			i++;
			continue;
		}
		s->prev_cr = 0;
		uint32_t cp;
		size_t k = bl_utf8_decode(p + i, n - i, &cp);
		if (k > 0) {
			s->good++;
			i += k;
			continue;
		}
		if (!eof && n - i < utf8_need(c))
			break; /* maybe completed by the next chunk */
		if (s->bad++ == 0)
			s->bad_line = s->line;
		if (cp1252_only(c))
			s->cp1252 = 1;
		i++;
	}
	return i;
}

int bl_csv_check_encoding(FILE *f, struct bl_diag *d)
{
	off_t pos = ftello(f);
	if (pos < 0)
		return bl_diag_set(d, BL_EIO,
		                   "cannot check the encoding: input is not seekable (%s)",
		                   strerror(errno));

	unsigned char *buf = bl_xmalloc(BL_CSV_CHUNK + 4);
	struct enc_scan s = {.line = 1};
	size_t carry = 0;
	int first = 1, rc = 0;
	for (;;) {
		size_t n = fread(buf + carry, 1, BL_CSV_CHUNK, f);
		int eof = n < BL_CSV_CHUNK;
		if (eof && ferror(f)) {
			rc =
			    bl_diag_set(d, BL_EIO, "reading the input failed: %s", strerror(errno));
			break;
		}
		const unsigned char *p = buf;
		size_t len = carry + n;
		if (first) {
			int bom;
			const char *wide = sniff_wide(p, len, &bom);
			if (wide) {
				rc = wide_error(d, wide, bom);
				break;
			}
			if (has_utf8_bom(p, len)) {
				p += 3;
				len -= 3;
			}
			first = 0;
		}
		size_t used = scan_bytes(&s, p, len, eof);
		carry = len - used;
		memmove(buf, p + used, carry);
		if (eof)
			break;
	}
	free(buf);
	if (fseeko(f, pos, SEEK_SET) != 0 && rc == 0)
		rc = bl_diag_set(d, BL_EIO, "cannot seek back in the input: %s", strerror(errno));
	if (rc)
		return rc;
	if (s.bad > s.good) {
		const char *name = s.cp1252 ? "Windows-1252" : "ISO-8859-1 (Latin-1)";
		const char *iconv = s.cp1252 ? "WINDOWS-1252" : "ISO-8859-1";
		return bl_diag_set(d, BL_EENCODING,
		                   "the file is not UTF-8: line %zu has a byte that is not UTF-8 "
		                   "(%zu such bytes in all); it is probably %s. Convert it first, "
		                   "e.g. iconv -f %s -t UTF-8 FILE > FILE-utf8.csv",
		                   s.bad_line, s.bad, name, iconv);
	}
	return 0;
}
