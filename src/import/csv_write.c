/* CSV output; see csv_write.h. */
#include "import/csv_write.h"

#include "util/err.h"

#include <csv.h>

#include <string.h>

int bl_csv_write_field(FILE *f, const char *s, size_t len, int first)
{
	if (!first && fputc(',', f) == EOF)
		return -BL_EIO;
	int quote = len && (s[0] == ' ' || s[len - 1] == ' ');
	for (size_t i = 0; i < len && !quote; i++)
		quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
	if (quote)
		return csv_fwrite(f, s, len) == 0 ? 0 : -BL_EIO;
	return fwrite(s, 1, len, f) == len ? 0 : -BL_EIO;
}

int bl_csv_write_end(FILE *f)
{
	return fputs("\r\n", f) == EOF ? -BL_EIO : 0;
}
