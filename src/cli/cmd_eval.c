/* millivid eval: the evaluation protocol (src/eval/evaluate.h) for several methods at once. */
#include "cli.h"
#include "eval/evaluate.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: millivid eval --ae FILE --data TESTDIR --method NAME=DIT_FILE [--method ...] --context C\n"
            "                     --out DIR [options]\n"
            "  every test video and method: the same ground-truth context, rollout with the ground-truth\n"
            "  actions, level-0 decode, per-frame PSNR / SSIM; bounds 'autoencoded' and 'random'.\n"
            "  --method NAME=FILE    a DiT checkpoint (kind millivid, framepack or fullres from the file)\n"
            "  --context C           context frames given to every method (required)\n"
            "  --videos N            evaluate the first N test videos [all]\n"
            "  --frames T            roll out to frame T [the video length]\n"
            "  --steps S             sampler steps [each checkpoint's sample.steps]\n"
            "  --seed K              rollout noise and random-video pairing [0]\n"
            "  --revisit-radius R    revisit: horizontal distance to a context pose, blocks [2]\n"
            "  --revisit-yaw D       revisit: yaw difference, degrees [30]\n"
            "  --revisit-min-gap G   revisit: the matching context frame lies >= G frames back [32]\n"
            "  --no-revisit          skip the revisit summary (data without poses)\n"
            "  --long-fraction F     long-horizon part of the rollout [0.5]\n"
            "  --side-by-side N      side-by-side mp4s for the first N videos [4]\n"
            "  --threads N           OpenMP / BLAS threads [all]\n"
            "  --force               reuse an output folder of another configuration (its results are replaced)\n"
            "  --quiet               no progress bar\n"
            "  outputs: DIR/metrics.json, summary.md, plot_psnr.svg, plot_ssim.svg, report.html, videos/,\n"
            "  cache/ (a killed evaluation resumes where it stopped)\n");
}

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

static mv_status parse_value(mv_eval_params *p, const char *a, char *v, int *threads, int *known) {
    int seed = 0;
    *known = 1;
    if (!strcmp(a, "--ae")) p->ae_path = v;
    else if (!strcmp(a, "--data")) p->data_dir = v;
    else if (!strcmp(a, "--out")) p->out_dir = v;
    else if (!strcmp(a, "--method")) return parse_method(p, v);
    else if (!strcmp(a, "--context")) return cli_int(a, v, 1, 1 << 24, &p->context);
    else if (!strcmp(a, "--videos")) return cli_int(a, v, 1, 1 << 24, &p->videos);
    else if (!strcmp(a, "--frames")) return cli_int(a, v, 2, 1 << 24, &p->frames);
    else if (!strcmp(a, "--steps")) return cli_int(a, v, 1, 10000, &p->steps);
    else if (!strcmp(a, "--seed")) {
        MV_TRY(cli_int(a, v, 0, 2147483647L, &seed));
        p->seed = (uint64_t)seed;
    } else if (!strcmp(a, "--revisit-radius")) return cli_double(a, v, 0, 1e6, &p->revisit.radius_blocks);
    else if (!strcmp(a, "--revisit-yaw")) return cli_double(a, v, 0, 180, &p->revisit.yaw_deg);
    else if (!strcmp(a, "--revisit-min-gap")) return cli_int(a, v, 0, 1 << 24, &p->revisit_min_gap);
    else if (!strcmp(a, "--long-fraction")) return cli_double(a, v, 1e-9, 1, &p->long_fraction);
    else if (!strcmp(a, "--side-by-side")) return cli_int(a, v, 0, 1000, &p->side_by_side);
    else if (!strcmp(a, "--threads")) return cli_int(a, v, 0, 1024, threads);
    else *known = 0;
    return MV_OK;
}

/* Returns 0 to run, -1 after --help, 2 on a usage error (message set). */
static int parse_opts(int argc, char **argv, mv_eval_params *p, int *threads) {
    mv_eval_params_init(p);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return -1;
        }
        if (!strcmp(a, "--no-revisit")) p->no_revisit = 1;
        else if (!strcmp(a, "--force")) p->force = 1;
        else if (!strcmp(a, "--quiet")) p->quiet = 1;
        else if (strncmp(a, "--", 2)) {
            mv_fail(MV_ERR_ARG, "unexpected argument '%s' (see millivid eval --help)", a);
            return 2;
        } else {
            char *v = (char *)cli_value(argc, argv, &i);
            if (!v) return 2;
            int known;
            if (parse_value(p, a, v, threads, &known)) return 2;
            if (!known) {
                mv_fail(MV_ERR_ARG, "unknown option '%s' (see millivid eval --help)", a);
                return 2;
            }
        }
    }
    if (!p->ae_path || !p->data_dir || !p->out_dir || !p->n_methods || !p->context) {
        mv_fail(MV_ERR_ARG, "--ae, --data, --method, --context and --out are required (see millivid eval --help)");
        return 2;
    }
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
