/* `millivid world`: generate a Loopcraft data set (train split or loop-biased test split). */
#include "cli.h"
#include "world/world.h"

static void world_usage(FILE *f) {
    fprintf(f,
            "usage: millivid world --out DIR [options]\n\n"
            "Generates a Loopcraft data set: procedural voxel worlds walked by the paper's random policy.\n"
            "Writes DIR/frames.npy (N,T,S,S,3) uint8, DIR/actions.npy (N,T,6) float32\n"
            "[id, x, y, z, yaw_deg, pitch_deg] and DIR/index.json (+ DIR/videos/*.mp4 with --mp4).\n\n"
            "options:\n"
            "  --out DIR             output directory (must be empty or absent unless --force)\n"
            "  --split train|test    train: bundle random walk; test: loop-biased walks (default train)\n"
            "  --videos N            number of videos (default 16)\n"
            "  --frames T            frames per video (default 256)\n"
            "  --size S              frame size, a multiple of 8 in [8, 256] (default 64)\n"
            "  --seed K              data-set seed; video i uses its own world seed (default 0)\n"
            "  --context C           test split: context length for the loop score (default 128)\n"
            "  --candidates N        test split: candidate walks per video (default 100)\n"
            "  --keep-fraction F     test split: pick among the best F of the candidates (default 0.1)\n"
            "  --mp4                 also write one H.264 20 fps mp4 per video into DIR/videos/\n"
            "  --threads N           threads (default: all cores); output does not depend on it\n"
            "  --force               replace a non-empty output directory\n"
            "  --quiet               no configuration and no progress bar\n");
}

static mv_status world_parse(int argc, char **argv, mv_world_params *p, int *help) {
    int ctx_set = 0, cand_set = 0, keep_set = 0;
    const char *split = "train";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = 1;
            return MV_OK;
        }
        if (!strcmp(a, "--mp4")) p->mp4 = 1;
        else if (!strcmp(a, "--force")) p->force = 1;
        else if (!strcmp(a, "--quiet")) p->quiet = 1;
        else if (!strcmp(a, "--out") || !strcmp(a, "--split") || !strcmp(a, "--videos") || !strcmp(a, "--frames") ||
                 !strcmp(a, "--size") || !strcmp(a, "--seed") || !strcmp(a, "--context") ||
                 !strcmp(a, "--candidates") || !strcmp(a, "--keep-fraction") || !strcmp(a, "--threads")) {
            if (!(v = cli_value(argc, argv, &i))) return MV_ERR_ARG;
            int seed;
            if (!strcmp(a, "--out")) p->out = v;
            else if (!strcmp(a, "--split")) split = v;
            else if (!strcmp(a, "--videos")) MV_TRY(cli_int(a, v, 1, 1000000, &p->videos));
            else if (!strcmp(a, "--frames")) MV_TRY(cli_int(a, v, 1, 100000, &p->frames));
            else if (!strcmp(a, "--size")) MV_TRY(cli_int(a, v, 8, 256, &p->size));
            else if (!strcmp(a, "--seed")) {
                MV_TRY(cli_int(a, v, 0, 2147483647L, &seed));
                p->seed = seed;
            } else if (!strcmp(a, "--context")) {
                MV_TRY(cli_int(a, v, 1, 100000, &p->context));
                ctx_set = 1;
            } else if (!strcmp(a, "--candidates")) {
                MV_TRY(cli_int(a, v, 1, 100000, &p->candidates));
                cand_set = 1;
            } else if (!strcmp(a, "--keep-fraction")) {
                MV_TRY(cli_double(a, v, 1e-9, 1.0, &p->keep_fraction));
                keep_set = 1;
            } else MV_TRY(cli_int(a, v, 1, 1024, &p->threads));
        } else {
            return mv_fail(MV_ERR_ARG, "unknown option '%s' (see millivid world --help)", a);
        }
    }
    if (!strcmp(split, "test")) p->test_split = 1;
    else if (strcmp(split, "train")) return mv_fail(MV_ERR_ARG, "--split must be train or test, got '%s'", split);
    if (!p->test_split && (ctx_set || cand_set || keep_set))
        return mv_fail(MV_ERR_ARG, "--context, --candidates and --keep-fraction only apply to --split test");
    if (p->size % 8) return mv_fail(MV_ERR_ARG, "--size must be a multiple of 8, got %d", p->size);
    return mv_world_params_check(p);
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
    int help = 0;
    if (world_parse(argc, argv, &p, &help) != MV_OK) return 2;
    if (help) {
        world_usage(stdout);
        return 0;
    }
    if (p.threads > 0) mv_set_threads(p.threads);
    if (!p.quiet) world_print(&p);
    if (mv_world_write_dataset(&p) != MV_OK) return 1;
    if (!p.quiet) fprintf(stderr, "millivid world: wrote %s\n", p.out);
    return 0;
}
