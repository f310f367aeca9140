#include "cli.h"

int cmd_eval(int argc, char **argv) { return cli_not_implemented("eval", "evaluation"); }
