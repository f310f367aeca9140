#include "cli.h"

int cmd_world(int argc, char **argv) { return cli_not_implemented("world", "Loopcraft"); }
