/*
 * libFuzzer harness for the CSV reader: the input is read as a FILE
 * (fmemopen) by bl_csv_check_encoding, then by bl_csv_read with the
 * delimiter detected and with one forced (chosen from the input's last byte).
 * The callback checks the record invariants of csv.h and traps on a breach;
 * errors must come with a message. Seeds: fuzz/seeds/csv.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "import/csv.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct state {
	size_t prev_line;
	size_t records;
	size_t max_line; /* physical lines in the input */
};

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__,         \
			        __LINE__);                                                         \
			__builtin_trap();                                                          \
		}                                                                                  \
	} while (0)

static int check_record(void *arg, const struct bl_csv_record *rec)
{
	struct state *st = arg;
	CHECK(rec->nfields >= 1 && rec->nfields <= BL_CSV_FIELDS_MAX);
	CHECK(rec->line >= 1 && rec->line <= st->max_line);
	CHECK(rec->line > st->prev_line); /* a record ends at a line end */
	st->prev_line = rec->line;
	size_t first_bad = rec->nfields;
	for (size_t i = 0; i < rec->nfields; i++) {
		CHECK(rec->fields[i] != NULL);
		CHECK(rec->lens[i] <= BL_CSV_FIELD_MAX);
		CHECK(rec->fields[i][rec->lens[i]] == '\0');
		int clean = memchr(rec->fields[i], '\0', rec->lens[i]) == NULL &&
		            bl_utf8_valid(rec->fields[i], rec->lens[i], NULL);
		if (clean)
			CHECK(strlen(rec->fields[i]) == rec->lens[i]);
		else if (first_bad == rec->nfields)
			first_bad = i;
	}
	CHECK(rec->bad_utf8 == (first_bad < rec->nfields));
	CHECK(rec->bad_utf8 ? rec->bad_field == first_bad : rec->bad_field == 0);
	st->records++;
	return 0;
}

/* Lines as csv.c counts them: CRLF, LF and CR each end one. */
static size_t count_lines(const uint8_t *data, size_t size)
{
	size_t lines = 1;
	for (size_t i = 0; i < size; i++)
		if (data[i] == '\r' || (data[i] == '\n' && (i == 0 || data[i - 1] != '\r')))
			lines++;
	return lines;
}

static void read_once(const uint8_t *data, size_t size, char force)
{
	FILE *f = fmemopen((void *)data, size, "rb");
	if (!f)
		return;
	struct state st = {0, 0, count_lines(data, size)};
	struct bl_csv_opts opts = {.delimiter = force};
	struct bl_diag d;
	bl_diag_clear(&d);
	char used = 0;
	int rc = bl_csv_read(f, &opts, check_record, &st, &used, &d);
	fclose(f);
	CHECK(rc == 0 || rc == -BL_EINVAL || rc == -BL_ELIMIT || rc == -BL_EENCODING);
	CHECK(rc == 0 || d.msg[0] != '\0');
	CHECK(memchr(d.msg, '\0', sizeof(d.msg)) != NULL);
	if (rc == 0) {
		CHECK(force ? used == force : (used == ',' || used == ';' || used == '\t'));
	}
	if (rc == -BL_EENCODING)
		CHECK(st.records == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0; /* fmemopen of 0 bytes is not portable */

	FILE *f = fmemopen((void *)data, size, "rb");
	if (f) {
		struct bl_diag d;
		bl_diag_clear(&d);
		int rc = bl_csv_check_encoding(f, &d);
		CHECK(rc == 0 || rc == -BL_EENCODING);
		CHECK(rc == 0 || d.msg[0] != '\0');
		CHECK(ftell(f) == 0);
		fclose(f);
	}

	read_once(data, size, 0);

	static const char forced[] = {',', ';', '\t', '|', ' ', ':', '\x1f', '\xfe'};
	read_once(data, size, forced[data[size - 1] % sizeof(forced)]);
	return 0;
}
