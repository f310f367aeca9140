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
int cmd_probe(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_convert(int argc, char **argv);

/* Shared option helpers. Each returns MV_ERR_ARG with a clear message on a bad value. */
mv_status cli_int(const char *opt, const char *val, long lo, long hi, int *out);
mv_status cli_double(const char *opt, const char *val, double lo, double hi, double *out);
/* For "--name value" options: returns the value or sets an error when it is missing. */
const char *cli_value(int argc, char **argv, int *i);

/* Table-driven options (src/cli/options.c). A command lists its options once; cli_parse reads argv
 * against the table and cli_print_help prints the options part of --help from it. */
typedef enum { CLI_FLAG, CLI_INT, CLI_DOUBLE, CLI_STRING, CLI_LIST, CLI_ARGS } cli_kind;

#define CLI_LIST_MAX 64
typedef struct { /* a repeatable string option, e.g. --set k=v --set k2=v2 */
    const char *item[CLI_LIST_MAX];
    int n;
} cli_list;

/* Plain arguments collected into storage the caller provides (at most cap; argc always suffices). A
 * CLI_ARGS option named "--x" takes every argument after it up to the next option ("--x A B C"); one
 * named without "--" (e.g. "VIDEO...") takes the plain arguments that no "--x" option takes. */
typedef struct {
    const char **item;
    int n, cap;
} cli_args;

typedef struct {
    const char *name; /* "--steps" */
    const char *arg;  /* value name in --help ("N"); NULL for a flag */
    cli_kind kind;
    union {
        int *i;          /* CLI_FLAG (set to 1), CLI_INT */
        double *d;       /* CLI_DOUBLE */
        const char **s;  /* CLI_STRING */
        cli_list *l;     /* CLI_LIST */
        cli_args *a;     /* CLI_ARGS */
    } out;
    double lo, hi;    /* accepted range of CLI_INT / CLI_DOUBLE */
    const char *help; /* text after the option in --help; '\n' starts an indented continuation line */
    int required;     /* cli_parse fails unless the option is given */
    int *given;       /* optional: set to 1 when the option is given */
} cli_option;

#define CLI_OPT_FLAG(name_, out_, help_, ...) {.name = name_, .kind = CLI_FLAG, .out.i = out_, .help = help_, __VA_ARGS__}
#define CLI_OPT_INT(name_, arg_, out_, lo_, hi_, help_, ...) \
    {.name = name_, .arg = arg_, .kind = CLI_INT, .out.i = out_, .lo = lo_, .hi = hi_, .help = help_, __VA_ARGS__}
#define CLI_OPT_DOUBLE(name_, arg_, out_, lo_, hi_, help_, ...) \
    {.name = name_, .arg = arg_, .kind = CLI_DOUBLE, .out.d = out_, .lo = lo_, .hi = hi_, .help = help_, __VA_ARGS__}
#define CLI_OPT_STRING(name_, arg_, out_, help_, ...) \
    {.name = name_, .arg = arg_, .kind = CLI_STRING, .out.s = out_, .help = help_, __VA_ARGS__}
#define CLI_OPT_LIST(name_, arg_, out_, help_, ...) \
    {.name = name_, .arg = arg_, .kind = CLI_LIST, .out.l = out_, .help = help_, __VA_ARGS__}
#define CLI_OPT_ARGS(name_, arg_, out_, help_, ...) \
    {.name = name_, .arg = arg_, .kind = CLI_ARGS, .out.a = out_, .help = help_, __VA_ARGS__}

/* A command's name (for messages) and the --help text around its option table. */
typedef struct {
    const char *name;   /* "train" */
    const char *usage;  /* printed before the options: "usage: millivid train ...\n" and any prose */
    const char *epilog; /* printed after them, or NULL */
} cli_command;

/* Parses argv[1..argc-1] against opts[n] (at most 64). Returns 0 to run; -1 after printing --help
 * (--help or -h) to stdout; 2 on a usage error with the message set: "unexpected argument" (a plain
 * argument that no CLI_ARGS entry takes), "unknown
 * option", "option --x needs a value", range errors (cli_int / cli_double), "too many --x options",
 * "--a and --b are required" (all required options), each naming `millivid <name> --help`. A --threads
 * value above the available cores is lowered to them with a warning. */
int cli_parse(int argc, char **argv, const cli_command *cmd, const cli_option *opts, int n);
/* The whole --help: cmd->usage, one line per option ("  --name ARG   help", continuation lines
 * indented under the help), cmd->epilog. */
void cli_print_help(FILE *f, const cli_command *cmd, const cli_option *opts, int n);
#endif
