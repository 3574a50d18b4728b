/* bulletin's entry point: everything happens in src/cli. */
#include "cli/cli.h"

#include <malloc.h>

int main(int argc, char **argv)
{
	/*
	 * glibc hands freed memory at the top of the heap back to the kernel
	 * past 128 KiB, and SQLite's page cache frees and re-allocates pages
	 * all the time: an import made one brk() call per row. Keep up to
	 * 8 MiB of free heap and grow it 1 MiB at a time instead.
	 */
	mallopt(M_TRIM_THRESHOLD, 8 << 20);
	mallopt(M_TOP_PAD, 1 << 20);
	return bl_cli_main(argc, argv);
}
