#include "cli.h"

int cmd_encode(int argc, char **argv) { return cli_not_implemented("encode", "autoencoder"); }
