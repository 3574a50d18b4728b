/* bulletin send [--once]: run the delivery engine (src/send/engine.c). */
#include "cli/cli.h"

#include <getopt.h>

static const char usage[] =
    "usage: bulletin send [--once]\n"
    "\n"
    "Run the delivery engine: claim queued deliveries (breaking posts first),\n"
    "hand them to the relays in `relay`, record every reply. Runs until SIGTERM\n"
    "or SIGINT, which stop claiming and let the messages in flight finish.\n"
    "  --once   exit when nothing can be sent now (deferred deliveries wait for\n"
    "           a later run)\n"
    "On SQLite one engine runs per database; on PostgreSQL run as many as you like.\n";

int bl_cmd_send(struct bl_cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'}, {"once", no_argument, NULL, 'o'}, {0}};
	int c, once = 0, code;
	bl_cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'o')
			once = 1;
		else
			return bl_cli_usage(usage, c == 'h');
	}
	if (optind != argc)
		return bl_cli_usage(usage, 0);
	struct bl_store *s;
	if ((code = bl_cli_store(cli, 1, &s)))
		return code;
	return bl_cli_run_engine(cli, s, once, 0);
}
