/* Entry point: dispatches subcommands, prints usage and errors. The only place that exits. */
#include "cli.h"
#include "core/dist.h"

#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <math.h>

static const struct {
    const char *name;
    cli_cmd_fn fn;
    const char *help;
} commands[] = {
    {"world", cmd_world, "generate a Loopcraft data set (train or loop-biased test split)"},
    {"import", cmd_import, "build a data set from your own videos (+ optional actions)"},
    {"train-ae", cmd_train_ae, "train the hierarchical autoencoder"},
    {"encode", cmd_encode, "encode a data set into per-level latents"},
    {"ae-eval", cmd_ae_eval, "PSNR / SSIM of the autoencoder per level"},
    {"schedule", cmd_schedule, "print the rollout schedule of a method"},
    {"train", cmd_train, "train a video DiT (--method millivid|framepack|fullres)"},
    {"generate", cmd_generate, "roll out a video from a context and actions"},
    {"eval", cmd_eval, "the paper's evaluation protocol + HTML report"},
    {"probe", cmd_probe, "quick memory probe: recall at revisits vs hold-last (JSON)"},
    {"compare", cmd_compare, "per-frame PSNR / SSIM between two frame arrays"},
    {"info", cmd_info, "describe a checkpoint, .npy file or data set"},
    {"convert", cmd_convert, "rewrite a checkpoint in bf16 / f16 / f32 (metadata kept)"},
};

static void usage(FILE *f) {
    fprintf(f, "millivid %s: hierarchical latents + coarse-to-fine diffusion rollout for long-range\n"
               "consistent video generation, on the CPU.\n\n"
               "usage: millivid <command> [options]     (millivid <command> --help for its options)\n\n"
               "commands:\n", mv_version());
    for (size_t i = 0; i < MV_ARRAY_LEN(commands); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\nglobal options: --help, --version\n");
}

int main(int argc, char **argv) {
    /* Past a file-size limit (ulimit -f) a write would raise SIGXFSZ and kill the process before it
     * could remove its temporary files; ignored, the write fails with EFBIG and the error path runs. */
    signal(SIGXFSZ, SIG_IGN);
    /* OpenMP threads that spin while waiting make a shared 2-core machine crawl (measured: 40 AE
     * training steps took 2:51 with the default policy, 0:15 with passive). libgomp reads the policy
     * before main runs, so set it and start again once; an explicit OMP_WAIT_POLICY is respected. */
    if (!getenv("OMP_WAIT_POLICY") && setenv("OMP_WAIT_POLICY", "passive", 1) == 0)
        execv("/proc/self/exe", argv); /* on failure, carry on with the default policy */
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("millivid %s\n", mv_version());
        return 0;
    }
    for (size_t i = 0; i < MV_ARRAY_LEN(commands); i++) {
        if (strcmp(argv[1], commands[i].name)) continue;
        mv_clear_error();
        int rc = commands[i].fn(argc - 1, argv + 1);
        if (rc != 0 && mv_last_error()[0])
            fprintf(stderr, "millivid %s: error: %s\n", commands[i].name, mv_last_error());
        mv_dist_finalize(rc != 0); /* leaves the MPI job of a training command started by mpirun */
        return rc == 0 ? 0 : (rc > 0 && rc < 126 ? rc : 1);
    }
    fprintf(stderr, "millivid: error: unknown command '%s' (see millivid --help)\n", argv[1]);
    return 2;
}

mv_status cli_int(const char *opt, const char *val, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || end == val || *end)
        return mv_fail(MV_ERR_ARG, "%s expects an integer, got '%s'", opt, val);
    if (v < lo || v > hi)
        return mv_fail(MV_ERR_ARG, "%s must be in [%ld, %ld], got %ld", opt, lo, hi, v);
    *out = (int)v;
    return MV_OK;
}

mv_status cli_double(const char *opt, const char *val, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || end == val || *end || !isfinite(v))
        return mv_fail(MV_ERR_ARG, "%s expects a number, got '%s'", opt, val);
    if (v < lo || v > hi) return mv_fail(MV_ERR_ARG, "%s must be in [%g, %g], got %g", opt, lo, hi, v);
    *out = v;
    return MV_OK;
}

const char *cli_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        mv_fail(MV_ERR_ARG, "option %s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}
