#include "cli.h"

int cmd_info(int argc, char **argv) { return cli_not_implemented("info", "file formats"); }
