#include "cli.h"

int cmd_train_ae(int argc, char **argv) { return cli_not_implemented("train-ae", "autoencoder"); }
