#include "cli.h"

int cmd_import(int argc, char **argv) { return cli_not_implemented("import", "Loopcraft import"); }
