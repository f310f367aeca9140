/* millivid schedule: print the rollout schedule of a method (no model needed). */
#include "cli.h"
#include "core/config.h"
#include "rollout/schedule.h"

static void schedule_usage(FILE *f) {
    fprintf(f, "usage: millivid schedule [--method millivid|framepack|fullres] [--config mini|paper|FILE.json]\n"
               "                         [--set key=value ...] [--context C] [--frames T] [--json]\n\n"
               "Prints the rollout schedule of a method: chunk size N, how far back the context reaches (S),\n"
               "frames advanced per chunk (A), steps per chunk, chunks, total DiT steps and calls, tokens per\n"
               "step, then every step of the rollout with absolute frame numbers (C = context, D = denoised).\n"
               "  --method M     rollout method (default millivid)\n"
               "  --config NAME  preset or JSON file (default mini)\n"
               "  --set k=v      override a config key, e.g. --set millivid.windows=[1,4,16,64] (repeatable)\n"
               "  --context C    ground-truth context frames 0..C-1 (default eval.context of the config)\n"
               "  --frames T     roll out up to frame T-1 (default eval.frames of the config)\n"
               "  --json         machine-readable output: every step of every chunk, absolute frames\n");
}

int cmd_schedule(int argc, char **argv) {
    const char *config = "mini", *method_name = "millivid", *v;
    int context = -1, frames = -1, json = 0, nset = 0;
    const char **sets = calloc((size_t)argc + 1, sizeof(char *));
    mv_config c;
    mv_schedule s = {0};
    mv_method m;
    int rc = 1;
    if (!sets) {
        mv_fail(MV_ERR_NOMEM, "out of memory");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            schedule_usage(stdout);
            rc = 0;
            goto done;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--method") || !strcmp(a, "--config") || !strcmp(a, "--set") ||
                   !strcmp(a, "--context") || !strcmp(a, "--frames")) {
            if (!(v = cli_value(argc, argv, &i))) goto done;
            mv_status st = MV_OK;
            if (!strcmp(a, "--method")) method_name = v;
            else if (!strcmp(a, "--config")) config = v;
            else if (!strcmp(a, "--set")) sets[nset++] = v;
            else if (!strcmp(a, "--context")) st = cli_int(a, v, 0, 1 << 24, &context);
            else st = cli_int(a, v, 1, 1 << 24, &frames);
            if (st != MV_OK) goto done;
        } else {
            mv_fail(MV_ERR_ARG, "unknown option '%s' (see millivid schedule --help)", a);
            goto done;
        }
    }
    if (mv_method_from_string(method_name, &m) != MV_OK) goto done;
    if (mv_config_load(&c, config) != MV_OK) goto done;
    for (int k = 0; k < nset; k++)
        if (mv_config_set(&c, sets[k]) != MV_OK) goto done;
    if (mv_config_validate(&c) != MV_OK) goto done;
    if (context < 0) context = c.context_frames;
    if (frames < 0) frames = c.video_frames;
    if (mv_schedule_build(&s, m, &c) != MV_OK) goto done;
    if (json ? mv_schedule_write_json(stdout, &s, context, frames) != MV_OK
             : mv_schedule_print(stdout, &s, context, frames, c.sample_steps, c.guidance) != MV_OK)
        goto done;
    rc = 0;
done:
    mv_schedule_free(&s);
    free(sets);
    return rc;
}
