/* bulletin's entry point: everything happens in src/cli. */
#include "cli/cli.h"

int main(int argc, char **argv)
{
	return bl_cli_main(argc, argv);
}
