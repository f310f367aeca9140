#include "cli.h"

int cmd_ae_eval(int argc, char **argv) { return cli_not_implemented("ae-eval", "autoencoder"); }
