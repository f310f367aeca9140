#include "cli.h"

int cmd_schedule(int argc, char **argv) { return cli_not_implemented("schedule", "rollout"); }
