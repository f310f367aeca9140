#include "cli.h"

int cmd_generate(int argc, char **argv) { return cli_not_implemented("generate", "video DiT"); }
