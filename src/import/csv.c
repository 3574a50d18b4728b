/* TEMPORARY STUB — replaced by the CSV reader work. */
#include "import/csv.h"

int bl_csv_read(FILE *f, const struct bl_csv_opts *opts, bl_csv_record_fn fn, void *arg,
                char *delimiter_out, struct bl_diag *d)
{
	(void)f, (void)opts, (void)fn, (void)arg, (void)delimiter_out;
	return bl_diag_set(d, BL_EINVAL, "CSV reader not built yet");
}

int bl_csv_check_encoding(FILE *f, struct bl_diag *d)
{
	(void)f, (void)d;
	return 0;
}
