#include "cli.h"

int cmd_compare(int argc, char **argv) { return cli_not_implemented("compare", "evaluation"); }
