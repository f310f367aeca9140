/* The millivid command-line tool: one cmd_<name>() per subcommand, each in its own cmd_<name>.c.
 * A command returns 0 on success; on failure it returns non-zero after the message is set with
 * mv_fail() (main prints "millivid <cmd>: error: <message>"), or prints its own usage error. */
#ifndef MV_CLI_H
#define MV_CLI_H
#include "core/core.h"

typedef int (*cli_cmd_fn)(int argc, char **argv); /* argv[0] is the subcommand name */

int cmd_world(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_train_ae(int argc, char **argv);
int cmd_encode(int argc, char **argv);
int cmd_ae_eval(int argc, char **argv);
int cmd_schedule(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_info(int argc, char **argv);

/* Shared option helpers. Each returns MV_ERR_ARG with a clear message on a bad value. */
mv_status cli_int(const char *opt, const char *val, long lo, long hi, int *out);
mv_status cli_double(const char *opt, const char *val, double lo, double hi, double *out);
/* For "--name value" options: returns the value or sets an error when it is missing. */
const char *cli_value(int argc, char **argv, int *i);
/* Reports an unimplemented subcommand (non-zero exit). */
int cli_not_implemented(const char *name, const char *issue);
#endif
