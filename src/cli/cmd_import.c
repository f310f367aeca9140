/* millivid import: a data set from your own videos (+ optional JSON-lines actions per video). */
#include "cli.h"
#include "io/import.h"

static const cli_command import_cmd = {
    "import",
    "usage: millivid import --out DIR --size S [--fps F] [--frames T] [--force] [--quiet]\n"
    "                       VIDEO... [--actions FILE...]\n\n"
    "Decodes every VIDEO (anything FFmpeg reads), centre-crops it to a square, area-resamples it\n"
    "to S x S and writes DIR/frames.npy (N,T,S,S,3) uint8, DIR/actions.npy (N,T,6) float32\n"
    "[id, 0, 0, 0, 0, 0] and DIR/index.json, the layout of `millivid world`.\n\n",
    NULL};

typedef struct {
    mv_import_params p;
    cli_args videos, actions;
} import_opts;

/* Parses argv into o; the video and actions lists point into argv (storage of argc entries each). */
static int parse_opts(int argc, char **argv, import_opts *o) {
    const cli_option opts[] = {
        CLI_OPT_STRING("--out", "DIR", &o->p.out, "output directory (must be empty or missing unless --force)",
                       .required = 1),
        CLI_OPT_INT("--size", "S", &o->p.size, 8, 1024,
                    "frame side in pixels, a multiple of 8 (the mini preset uses 64)", .required = 1),
        CLI_OPT_DOUBLE("--fps", "F", &o->p.fps, 1e-3, 1000,
                       "resample every video to F frames per second (default: keep the\n"
                       "source rate; the models are trained at 20)"),
        CLI_OPT_INT("--frames", "T", &o->p.frames, 1, 1 << 24,
                    "cut every video to T frames (default: the shortest video's length)"),
        CLI_OPT_ARGS("--actions", "FILE...", &o->actions,
                     "one JSON-lines file per video, in the same order: one line per frame\n"
                     "(after --fps), {\"action\": 0|1|2} or a bare id (0 forward, 1 left, 2 right);\n"
                     "without it every id is -1 (unconditioned)"),
        CLI_OPT_FLAG("--force", &o->p.force, "replace the data set in a non-empty DIR"),
        CLI_OPT_FLAG("--quiet", &o->p.quiet, "no progress bar"),
        CLI_OPT_ARGS("VIDEO...", NULL, &o->videos, "input videos"),
    };
    return cli_parse(argc, argv, &import_cmd, opts, MV_ARRAY_LEN(opts));
}

int cmd_import(int argc, char **argv) {
    import_opts o;
    memset(&o, 0, sizeof o);
    mv_import_params_init(&o.p);
    o.p.size = 0;
    o.videos = (cli_args){.item = calloc(argc + 1, sizeof(char *)), .cap = argc};
    o.actions = (cli_args){.item = calloc(argc + 1, sizeof(char *)), .cap = argc};
    int rc = 1;
    if (!o.videos.item || !o.actions.item) {
        mv_fail(MV_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((rc = parse_opts(argc, argv, &o))) {
        rc = rc < 0 ? 0 : rc;
        goto done;
    }
    mv_import_params *p = &o.p;
    if (o.videos.n == 0) {
        mv_fail(MV_ERR_ARG, "no input videos given (see millivid import --help)");
        rc = 2;
        goto done;
    }
    p->videos = o.videos.item, p->n_videos = o.videos.n;
    p->actions = o.actions.item, p->n_actions = o.actions.n;
    rc = 1;
    if (mv_import_params_check(p) != MV_OK) goto done;
    char fps[32] = "source rate", frames[32] = "shortest video";
    if (p->fps > 0) snprintf(fps, sizeof fps, "%g", p->fps);
    if (p->frames > 0) snprintf(frames, sizeof frames, "%d", p->frames);
    fprintf(stderr, "import: %d video(s) -> %s  size %d  fps %s  frames %s  actions %s%s\n", p->n_videos,
            p->out, p->size, fps, frames, p->n_actions ? "from files" : "none (-1)", p->force ? "  force" : "");
    rc = mv_import_run(p) == MV_OK ? 0 : 1;
done:
    free((void *)o.videos.item);
    free((void *)o.actions.item);
    return rc;
}
