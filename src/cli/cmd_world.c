/* `millivid world`: generate a Loopcraft data set (train split or loop-biased test split). */
#include "cli.h"
#include "io/config.h"
#include "world/world.h"

static const cli_command world_cmd = {
    "world",
    "usage: millivid world --out DIR [options]\n\n"
    "Generates a Loopcraft data set: procedural voxel worlds walked by the paper's random policy.\n"
    "Writes DIR/frames.npy (N,T,S,S,3) uint8, DIR/actions.npy (N,T,6) float32\n"
    "[id, x, y, z, yaw_deg, pitch_deg] and DIR/index.json (+ DIR/videos/*.mp4 with --mp4).\n\n"
    "options:\n",
    NULL};

/* Returns 0 to run, -1 after --help, 2 on a usage error (message set). */
static int world_parse(int argc, char **argv, mv_world_params *p) {
    int ctx_set = 0, cand_set = 0, keep_set = 0, seed = (int)p->seed;
    const char *split = "train";
    const cli_option opts[] = {
        CLI_OPT_STRING("--out", "DIR", &p->out, "output directory (must be empty or absent unless --force)"),
        CLI_OPT_STRING("--split", "train|test", &split,
                       "train: bundle random walk; test: loop-biased walks (default train)"),
        CLI_OPT_INT("--videos", "N", &p->videos, 1, 1000000, "number of videos (default 16)"),
        CLI_OPT_INT("--frames", "T", &p->frames, 1, 100000, "frames per video (default 256)"),
        CLI_OPT_INT("--size", "S", &p->size, 8, 256, "frame size, a multiple of 8 in [8, 256] (default 64)"),
        CLI_OPT_INT("--seed", "K", &seed, 0, 2147483647L, "data-set seed; video i uses its own world seed (default 0)"),
        CLI_OPT_INT("--context", "C", &p->context, 1, 100000,
                    "test split: context length for the loop score (default: the mini preset's evaluation\n"
                    "context, its MilliVid reach + 1 = 86)", .given = &ctx_set),
        CLI_OPT_INT("--candidates", "N", &p->candidates, 1, 100000,
                    "test split: candidate walks per video (default 100)", .given = &cand_set),
        CLI_OPT_DOUBLE("--keep-fraction", "F", &p->keep_fraction, 1e-9, 1.0,
                       "test split: pick among the best F of the candidates (default 0.1)", .given = &keep_set),
        CLI_OPT_FLAG("--mp4", &p->mp4, "also write one H.264 20 fps mp4 per video into DIR/videos/"),
        CLI_OPT_INT("--threads", "N", &p->threads, 1, 1024,
                    "threads (default: all cores); output does not depend on it"),
        CLI_OPT_FLAG("--force", &p->force, "replace a non-empty output directory"),
        CLI_OPT_FLAG("--quiet", &p->quiet, "no configuration and no progress bar"),
    };
    int rc = cli_parse(argc, argv, &world_cmd, opts, MV_ARRAY_LEN(opts));
    if (rc) return rc;
    p->seed = seed;
    if (!strcmp(split, "test")) p->test_split = 1;
    else if (strcmp(split, "train")) return mv_fail(MV_ERR_ARG, "--split must be train or test, got '%s'", split), 2;
    if (!p->test_split && (ctx_set || cand_set || keep_set))
        return mv_fail(MV_ERR_ARG, "--context, --candidates and --keep-fraction only apply to --split test"), 2;
    if (p->size % 8) return mv_fail(MV_ERR_ARG, "--size must be a multiple of 8, got %d", p->size), 2;
    if (p->test_split && !ctx_set) { /* the cut `millivid eval` gives by default */
        mv_config c;
        if (mv_config_load(&c, "mini")) return 2;
        p->context = mv_config_eval_context(&c);
        if (p->context >= p->frames)
            return mv_fail(MV_ERR_ARG, "--split test: the default context (%d frames, the mini preset's MilliVid reach "
                           "+ 1) needs --frames above %d; give --frames or --context", p->context, p->context), 2;
    }
    return mv_world_params_check(p) ? 2 : 0;
}

static void world_print(const mv_world_params *p) {
    fprintf(stderr,
            "millivid world: out=%s split=%s videos=%d frames=%d size=%d seed=%ld threads=%d mp4=%s\n"
            "  camera: pinhole, fov %.0f deg, pitch %.0f deg, eye 1.6, 2x2 supersampled; fog %.0f blocks\n"
            "  policy: actions held %d frames, turns %.0f deg, forward 0.2 blocks/frame",
            p->out, p->test_split ? "test" : "train", p->videos, p->frames, p->size, p->seed,
            p->threads > 0 ? p->threads : mv_get_threads(), p->mp4 ? "yes" : "no", MV_WORLD_FOV, MV_WORLD_PITCH,
            MV_WORLD_FOG, MV_WORLD_HOLD, MV_WORLD_TURN);
    if (p->test_split)
        fprintf(stderr, "; loop-biased: context %d, %d candidates, keep %.3g", p->context, p->candidates,
                p->keep_fraction);
    double gb = (double)p->videos * p->frames * p->size * p->size * 3 / 1e9;
    fprintf(stderr, "\n  frames.npy: %d x %d x %d x %d x 3 uint8 (%.2f GB)\n", p->videos, p->frames, p->size,
            p->size, gb);
}

int cmd_world(int argc, char **argv) {
    mv_world_params p;
    mv_world_params_init(&p);
    int rc = world_parse(argc, argv, &p);
    if (rc) return rc < 0 ? 0 : rc;
    if (p.threads > 0) mv_set_threads(p.threads);
    if (!p.quiet) world_print(&p);
    if (mv_world_write_dataset(&p) != MV_OK) return 1;
    if (!p.quiet) fprintf(stderr, "millivid world: wrote %s\n", p.out);
    return 0;
}
