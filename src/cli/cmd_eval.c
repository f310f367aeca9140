/* millivid eval: the evaluation protocol (src/eval/evaluate.h) for several methods at once. */
#include "cli.h"
#include "eval/evaluate.h"

static const cli_command eval_cmd = {
    "eval",
    "usage: millivid eval --ae FILE --data TESTDIR --method NAME=DIT_FILE [--method ...] --out DIR [options]\n"
    "  every test video and method: the same ground-truth context, rollout with the ground-truth\n"
    "  actions, level-0 decode, per-frame PSNR / SSIM; bounds 'autoencoded', 'random' (another test\n"
    "  video) and 'hold_last' (the last context frame, held); revisit averages over all revisits and\n"
    "  over those within a method's reach.\n",
    "  outputs: DIR/metrics.json, summary.md, plot_psnr.svg, plot_ssim.svg, report.html, videos/,\n"
    "  cache/ (a killed evaluation resumes where it stopped); with --training also\n"
    "  plot_training_loss.svg, plot_training_recall.svg\n"};

/* "--method NAME=FILE": one more method (v is cut at the '='). */
static mv_status parse_method(mv_eval_params *p, char *v) {
    char *eq = strchr(v, '=');
    if (!eq || eq == v || !eq[1])
        return mv_fail(MV_ERR_ARG, "--method expects NAME=DIT_FILE, got '%s'", v);
    if (p->n_methods >= MV_EVAL_MAX_METHODS)
        return mv_fail(MV_ERR_ARG, "at most %d --method options", MV_EVAL_MAX_METHODS);
    *eq = 0;
    p->methods[p->n_methods].name = v;
    p->methods[p->n_methods].path = eq + 1;
    p->n_methods++;
    return MV_OK;
}

/* Returns 0 to run, -1 after --help, 2 on a usage error (message set). */
static int parse_opts(int argc, char **argv, mv_eval_params *p, int *threads) {
    mv_eval_params_init(p);
    cli_list methods = {.n = 0};
    int seed = 0;
    const cli_option opts[] = {
        CLI_OPT_STRING("--ae", "FILE", &p->ae_path, "autoencoder checkpoint (millivid train-ae)", .required = 1),
        CLI_OPT_STRING("--data", "TESTDIR", &p->data_dir, "test data set (millivid world --split test)",
                       .required = 1),
        CLI_OPT_LIST("--method", "NAME=FILE", &methods,
                     "a DiT checkpoint (kind millivid, framepack or fullres from the file)", .required = 1),
        CLI_OPT_INT("--context", "C", &p->context, 1, 1 << 24,
                    "context frames given to every method [the MilliVid reach + 1 of the checkpoints: mini 86]"),
        CLI_OPT_STRING("--out", "DIR", &p->out_dir, "output folder", .required = 1),
        CLI_OPT_INT("--videos", "N", &p->videos, 1, 1 << 24, "evaluate the first N test videos [all]"),
        CLI_OPT_INT("--frames", "T", &p->frames, 2, 1 << 24, "roll out to frame T [the video length]"),
        CLI_OPT_INT("--steps", "S", &p->steps, 1, 10000, "sampler steps [each checkpoint's sample.steps]"),
        CLI_OPT_INT("--seed", "K", &seed, 0, 2147483647L, "rollout noise and random-video pairing [0]"),
        CLI_OPT_DOUBLE("--revisit-radius", "R", &p->revisit.radius_blocks, 0, 1e6,
                       "revisit: horizontal distance to a context pose, blocks [2]"),
        CLI_OPT_DOUBLE("--revisit-yaw", "D", &p->revisit.yaw_deg, 0, 180, "revisit: yaw difference, degrees [30]"),
        CLI_OPT_INT("--revisit-min-gap", "G", &p->revisit_min_gap, 0, 1 << 24,
                    "revisit: the matching context frame lies >= G frames back [32]"),
        CLI_OPT_FLAG("--no-revisit", &p->no_revisit, "skip the revisit summary (data without poses)"),
        CLI_OPT_DOUBLE("--long-fraction", "F", &p->long_fraction, 1e-9, 1, "long-horizon part of the rollout [0.5]"),
        CLI_OPT_INT("--side-by-side", "N", &p->side_by_side, 0, 1000, "side-by-side mp4s for the first N videos [4]"),
        CLI_OPT_INT("--threads", "N", threads, 0, 1024,
                    "(video, method) entries computed side by side, one thread each; the results do not\n"
                    "depend on N [all cores]"),
        CLI_OPT_FLAG("--force", &p->force,
                     "reuse an output folder of another configuration (its results are replaced)"),
        CLI_OPT_FLAG("--quiet", &p->quiet, "no progress bar"),
        CLI_OPT_STRING("--training", "DIR", &p->training_dir,
                       "add a Training section to the report: loss and probe recall of the runs in DIR "
                       "(dit_*.log.jsonl, probes/step_*.json; e.g. runs/campaign1)"),
    };
    int rc = cli_parse(argc, argv, &eval_cmd, opts, MV_ARRAY_LEN(opts));
    if (rc) return rc;
    p->seed = (uint64_t)seed;
    for (int i = 0; i < methods.n; i++)
        if (parse_method(p, (char *)methods.item[i])) return 2;
    return 0;
}

static void print_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
    fclose(f);
}

int cmd_eval(int argc, char **argv) {
    mv_eval_params p;
    int threads = 0;
    int rc = parse_opts(argc, argv, &p, &threads);
    if (rc) return rc < 0 ? 0 : rc;
    if (threads > 0) mv_set_threads(threads);
    printf("millivid eval: %d methods, out %s, threads %d (resolved configuration below)\n", p.n_methods, p.out_dir,
           mv_get_threads());
    fflush(stdout);
    mv_eval_result res;
    if (mv_eval_run(&p, &res)) return 1;
    print_file(res.summary_path);
    printf("\ncache: %d of %d (video, method) entries computed, %d reused\n", res.entries_computed,
           res.entries_total, res.entries_cached);
    printf("millivid eval: wrote %s/metrics.json, %s/report.html\n", p.out_dir, p.out_dir);
    return 0;
}
