/* millivid probe: the quick memory probe (src/eval/probe.h) for one or more DiT checkpoints. */
#include "cli.h"
#include "core/gemm.h"
#include "eval/probe.h"

static const cli_command probe_cmd = {
    "probe",
    "usage: millivid probe --ae FILE --dit FILE [--dit FILE ...] --data DIR --out FILE.json [options]\n"
    "  a quick memory probe. Probe points: up to P frames p per video where the camera returns to a\n"
    "  place seen 32..R frames earlier (R = the MilliVid reach, sum of millivid.windows: 85 for mini;\n"
    "  2 blocks, 30 degrees: the eval's revisit test), the last frame to generate, p+K-1, is also at a\n"
    "  place seen then, and p+K-1 is at the place of none of frames p-4..p-1 (the view changes, so\n"
    "  holding the last frame cannot score well; on Loopcraft this needs K >= 4). Every method gets\n"
    "  the ground-truth history [0, p) and generates frames p..p+K-1 with the ground-truth actions;\n"
    "  PSNR / SSIM against the ground truth, next to hold-last (frame p-1 repeated), autoencoded\n"
    "  ground truth and a random other video. Also the teacher-forced next frame (frame p) at those\n"
    "  points and at P random non-revisit frames per video. Each checkpoint's method comes from its\n"
    "  metadata; it must be built on --ae.\n",
    "  output: FILE.json (written atomically) and a summary table; 95% t-intervals over probe points.\n"
    "  Sampler steps default to 10 (the checkpoints' own default is 20) to keep the probe quick.\n"};

/* Returns 0 to run, -1 after --help, 2 on a usage error (message set). */
static int parse_opts(int argc, char **argv, mv_probe_params *p, int *threads, int *bf16) {
    mv_probe_params_init(p);
    cli_list dits = {.n = 0};
    int seed = 0;
    const char *oracle = NULL;
    const cli_option opts[] = {
        CLI_OPT_STRING("--ae", "FILE", &p->ae_path, "autoencoder checkpoint (millivid train-ae)", .required = 1),
        CLI_OPT_LIST("--dit", "FILE", &dits, "a video DiT checkpoint (repeat for several; method from its metadata)",
                     .required = 1),
        CLI_OPT_STRING("--data", "DIR", &p->data_dir, "validation data set with poses (millivid world --split test)",
                       .required = 1),
        CLI_OPT_STRING("--out", "FILE.json", &p->out_path, "results (written atomically)", .required = 1),
        CLI_OPT_INT("--videos", "N", &p->videos, 1, 1 << 24, "use the first N videos [all]"),
        CLI_OPT_INT("--points", "P", &p->points, 1, 1000, "probe points (and random frames) per video [4]"),
        CLI_OPT_INT("--horizon", "K", &p->horizon, 1, 256, "frames generated after each probe point [8]"),
        CLI_OPT_INT("--sample-steps", "S", &p->sample_steps, 1, 1000,
                    "sampler steps per rollout step [10, for speed; eval uses 20]"),
        CLI_OPT_INT("--min-points", "M", &p->min_points, 1, 1 << 24, "fail when fewer probe points are found [8]"),
        CLI_OPT_INT("--seed", "K", &seed, 0, 2147483647L, "probe point choice, rollout noise, random pairing [0]"),
        CLI_OPT_INT("--threads", "T", threads, 0, 1024, "OpenMP / GEMM threads [all cores]"),
        CLI_OPT_FLAG("--bf16", bf16, "linear layers with bf16 operands (faster; fp32 is the reference)"),
        CLI_OPT_FLAG("--quiet", &p->quiet, "no progress bar"),
        CLI_OPT_STRING("--oracle-levels", "L,L", &oracle,
                       "diagnostic: steps at these levels copy the ground truth instead of generating it (e.g. "
                       "1,2,3: MilliVid's fine frames from true coarse levels)"),
    };
    int rc = cli_parse(argc, argv, &probe_cmd, opts, MV_ARRAY_LEN(opts));
    if (rc) return rc;
    if (dits.n > MV_PROBE_MAX_METHODS) {
        mv_fail(MV_ERR_ARG, "at most %d --dit options, got %d", MV_PROBE_MAX_METHODS, dits.n);
        return 2;
    }
    for (int i = 0; i < dits.n; i++) p->dit_paths[i] = dits.item[i];
    p->n_dits = dits.n;
    p->seed = (uint64_t)seed;
    for (const char *c = oracle; c && *c;) {
        char *end;
        long l = strtol(c, &end, 10);
        if (end == c || l < 0 || l >= MV_MAX_LEVELS || (*end && *end != ',')) {
            mv_fail(MV_ERR_ARG, "--oracle-levels: expected level numbers 0..%d separated by commas, got '%s'",
                    MV_MAX_LEVELS - 1, oracle);
            return 2;
        }
        p->oracle_levels |= 1u << l;
        c = *end ? end + 1 : end;
    }
    return 0;
}

int cmd_probe(int argc, char **argv) {
    mv_probe_params p;
    int threads = 0, bf16 = 0;
    int rc = parse_opts(argc, argv, &p, &threads, &bf16);
    if (rc) return rc < 0 ? 0 : rc;
    if (threads > 0) mv_set_threads(threads);
    if (bf16) mv_set_matmul_precision(MV_MATMUL_BF16);
    mv_probe_result res;
    if (mv_probe_run(&p, &res)) return 1;
    mv_probe_print(stdout, &res);
    printf("millivid probe: wrote %s in %.1f s (%d thread(s)%s)\n", p.out_path, res.seconds, mv_get_threads(),
           bf16 ? ", bf16" : "");
    return 0;
}
