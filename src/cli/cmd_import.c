/* millivid import: a data set from your own videos (+ optional JSON-lines actions per video). */
#include "cli.h"
#include "world/import.h"

static void import_usage(FILE *f) {
    fprintf(f, "usage: millivid import --out DIR --size S [--fps F] [--frames T] [--force] [--quiet]\n"
               "                       VIDEO... [--actions FILE...]\n\n"
               "Decodes every VIDEO (anything FFmpeg reads), centre-crops it to a square, area-resamples it\n"
               "to S x S and writes DIR/frames.npy (N,T,S,S,3) uint8, DIR/actions.npy (N,T,6) float32\n"
               "[id, 0, 0, 0, 0, 0] and DIR/index.json, the layout of `millivid world`.\n\n"
               "  --out DIR        output directory (must be empty or missing unless --force)\n"
               "  --size S         frame side in pixels, a multiple of 8 (the mini preset uses 64)\n"
               "  --fps F          resample every video to F frames per second (default: keep the\n"
               "                   source rate; the models are trained at 20)\n"
               "  --frames T       cut every video to T frames (default: the shortest video's length)\n"
               "  --actions FILE.. one JSON-lines file per video, in the same order: one line per frame\n"
               "                   (after --fps), {\"action\": 0|1|2} (0 forward, 1 left, 2 right);\n"
               "                   without it every id is -1 (unconditioned)\n"
               "  --force          replace the data set in a non-empty DIR\n"
               "  --quiet          no progress bar\n");
}

/* Parses the command line into p; videos/actions point into argv. Returns 1 for --help. */
static int import_parse(int argc, char **argv, mv_import_params *p, const char **videos,
                        const char **actions) {
    int in_actions = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return 1;
        if (!strcmp(a, "--force"))
            p->force = 1, in_actions = 0;
        else if (!strcmp(a, "--quiet"))
            p->quiet = 1, in_actions = 0;
        else if (!strcmp(a, "--actions"))
            in_actions = 1;
        else if (!strcmp(a, "--out") || !strcmp(a, "--size") || !strcmp(a, "--fps") ||
                 !strcmp(a, "--frames")) {
            in_actions = 0;
            if (!(v = cli_value(argc, argv, &i))) return -1;
            if (!strcmp(a, "--out"))
                p->out = v;
            else if (!strcmp(a, "--size") && cli_int(a, v, 8, 1024, &p->size) != MV_OK)
                return -1;
            else if (!strcmp(a, "--fps") && cli_double(a, v, 1e-3, 1000, &p->fps) != MV_OK)
                return -1;
            else if (!strcmp(a, "--frames") && cli_int(a, v, 1, 1 << 24, &p->frames) != MV_OK)
                return -1;
        } else if (a[0] == '-' && a[1] == '-') {
            mv_fail(MV_ERR_ARG, "unknown option %s (see millivid import --help)", a);
            return -1;
        } else if (in_actions)
            actions[p->n_actions++] = a;
        else
            videos[p->n_videos++] = a;
    }
    return 0;
}

int cmd_import(int argc, char **argv) {
    mv_import_params p;
    mv_import_params_init(&p);
    p.size = 0;
    const char **videos = calloc(argc + 1, sizeof *videos), **actions = calloc(argc + 1, sizeof *actions);
    int rc = 1;
    if (!videos || !actions) {
        mv_fail(MV_ERR_NOMEM, "out of memory");
        goto done;
    }
    int r = import_parse(argc, argv, &p, videos, actions);
    if (r == 1) {
        import_usage(stdout);
        rc = 0;
        goto done;
    }
    if (r < 0) goto done;
    if (!p.out || !p.size || !p.n_videos) {
        import_usage(stderr);
        mv_fail(MV_ERR_ARG, "%s",
                !p.out    ? "--out DIR is required"
                : !p.size ? "--size S is required"
                          : "no input videos given");
        rc = 2;
        goto done;
    }
    p.videos = videos;
    p.actions = actions;
    if (mv_import_params_check(&p) != MV_OK) goto done;
    char fps[32] = "source rate", frames[32] = "shortest video";
    if (p.fps > 0) snprintf(fps, sizeof fps, "%g", p.fps);
    if (p.frames > 0) snprintf(frames, sizeof frames, "%d", p.frames);
    fprintf(stderr, "import: %d video(s) -> %s  size %d  fps %s  frames %s  actions %s%s\n", p.n_videos,
            p.out, p.size, fps, frames, p.n_actions ? "from files" : "none (-1)", p.force ? "  force" : "");
    rc = mv_import_run(&p) == MV_OK ? 0 : 1;
done:
    free(videos);
    free(actions);
    return rc;
}
