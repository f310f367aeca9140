/* Table-driven option parsing for the subcommands (see cli_option in cli.h): one loop that reads argv
 * against a command's table, and the options part of its --help printed from the same table. */
#include "cli.h"

#include <omp.h>

#define CLI_HELP_COLUMN 22 /* "--name ARG" is padded to this width in --help */
#define CLI_MAX_OPTIONS 64

static const cli_option *cli_find(const cli_option *opts, int n, const char *name) {
    for (int k = 0; k < n; k++)
        if (!strcmp(opts[k].name, name)) return &opts[k];
    return NULL;
}

/* The CLI_ARGS entry that takes plain arguments no "--x" option takes (its name has no "--"), or NULL. */
static const cli_option *cli_positional(const cli_option *opts, int n) {
    for (int k = 0; k < n; k++)
        if (opts[k].kind == CLI_ARGS && strncmp(opts[k].name, "--", 2)) return &opts[k];
    return NULL;
}

/* More threads than cores only makes the threads queue for the cores (1024 threads on 2 cores ran 24x
 * slower than 1): every --threads is capped at the cores this process may run on, with a warning. */
static void cli_cap_threads(int *n) {
    int cores = omp_get_num_procs();
    if (*n <= cores) return;
    MV_WARN("--threads %d: only %d cores are available, using %d threads", *n, cores, cores);
    *n = cores;
}

/* Stores the value v of option o (o->kind is not CLI_FLAG). */
static mv_status cli_store(const cli_option *o, const char *v) {
    switch (o->kind) {
    case CLI_INT:
        MV_TRY(cli_int(o->name, v, (long)o->lo, (long)o->hi, o->out.i));
        if (!strcmp(o->name, "--threads")) cli_cap_threads(o->out.i);
        return MV_OK;
    case CLI_DOUBLE: return cli_double(o->name, v, o->lo, o->hi, o->out.d);
    case CLI_STRING: *o->out.s = v; return MV_OK;
    case CLI_LIST:
        if (o->out.l->n == CLI_LIST_MAX) return mv_fail(MV_ERR_ARG, "too many %s options", o->name);
        o->out.l->item[o->out.l->n++] = v;
        return MV_OK;
    case CLI_ARGS:
        if (o->out.a->n == o->out.a->cap) return mv_fail(MV_ERR_ARG, "too many %s arguments", o->name);
        o->out.a->item[o->out.a->n++] = v;
        return MV_OK;
    case CLI_FLAG: break;
    }
    MV_ASSERT(0);
    return MV_ERR_INTERNAL;
}

/* "--a, --b and --c are required" (all required options, in table order). */
static mv_status cli_fail_required(const cli_command *cmd, const cli_option *opts, int n) {
    char list[512];
    int total = 0, k, len = 0;
    for (k = 0; k < n; k++) total += opts[k].required;
    list[0] = 0;
    for (k = 0; k < n; k++) {
        if (!opts[k].required) continue;
        int left = total--;
        len += snprintf(list + len, sizeof list - len, "%s%s", opts[k].name, left > 2 ? ", " : left == 2 ? " and " : "");
        if (len >= (int)sizeof list) break;
    }
    return mv_fail(MV_ERR_ARG, "%s %s required (see millivid %s --help)", list, strchr(list, ' ') ? "are" : "is", cmd->name);
}

int cli_parse(int argc, char **argv, const cli_command *cmd, const cli_option *opts, int n) {
    unsigned char seen[CLI_MAX_OPTIONS] = {0};
    MV_ASSERT(n <= CLI_MAX_OPTIONS);
    const cli_option *plain = cli_positional(opts, n), *taking = NULL; /* taking: the "--x A B" option */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cli_print_help(stdout, cmd, opts, n);
            return -1;
        }
        if (strncmp(a, "--", 2)) {
            const cli_option *to = taking ? taking : plain;
            if (!to) {
                mv_fail(MV_ERR_ARG, "unexpected argument '%s' (see millivid %s --help)", a, cmd->name);
                return 2;
            }
            if (cli_store(to, a)) return 2;
            seen[to - opts] = 1;
            continue;
        }
        const cli_option *o = cli_find(opts, n, a);
        if (!o) {
            mv_fail(MV_ERR_ARG, "unknown option '%s' (see millivid %s --help)", a, cmd->name);
            return 2;
        }
        taking = o->kind == CLI_ARGS ? o : NULL;
        if (o->kind == CLI_FLAG) *o->out.i = 1;
        else if (o->kind != CLI_ARGS && (!(v = cli_value(argc, argv, &i)) || cli_store(o, v))) return 2;
        if (o->given) *o->given = 1;
        seen[o - opts] = 1;
    }
    for (int k = 0; k < n; k++)
        if (opts[k].required && !seen[k]) {
            cli_fail_required(cmd, opts, n);
            return 2;
        }
    return 0;
}

void cli_print_help(FILE *f, const cli_command *cmd, const cli_option *opts, int n) {
    fputs(cmd->usage, f);
    for (int k = 0; k < n; k++) {
        char head[64];
        snprintf(head, sizeof head, "%s%s%s", opts[k].name, opts[k].arg ? " " : "", opts[k].arg ? opts[k].arg : "");
        fprintf(f, "  %-*s ", CLI_HELP_COLUMN, head);
        for (const char *c = opts[k].help; *c; c++) {
            fputc(*c, f);
            if (*c == '\n') fprintf(f, "%*s", CLI_HELP_COLUMN + 3, "");
        }
        fputc('\n', f);
    }
    if (cmd->epilog) fputs(cmd->epilog, f);
}
