/* TEMPORARY STUB */
#include "cli/cli.h"
int bl_cmd_import(struct bl_cli *cli, int argc, char **argv)
{
	(void)cli, (void)argc, (void)argv;
	return 1;
}
