#include "cli.h"

int cmd_train(int argc, char **argv) { return cli_not_implemented("train", "video DiT"); }
