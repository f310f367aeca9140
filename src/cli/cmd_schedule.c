/* millivid schedule: print the rollout schedule of a method (no model needed). */
#include "cli.h"
#include "io/config.h"
#include "rollout/schedule.h"

static const cli_command schedule_cmd = {
    "schedule",
    "usage: millivid schedule [--method millivid|framepack|fullres] [--config mini|paper|FILE.json]\n"
    "                         [--set key=value ...] [--context C] [--frames T] [--json]\n\n"
    "Prints the rollout schedule of a method: chunk size N, how far back the context reaches (S),\n"
    "frames advanced per chunk (A), steps per chunk, chunks, total DiT steps and calls, tokens per\n"
    "step, then every step of the rollout with absolute frame numbers (C = context, D = denoised).\n",
    NULL};

int cmd_schedule(int argc, char **argv) {
    const char *config = "mini", *method_name = "millivid";
    int context = -1, frames = -1, json = 0;
    cli_list sets = {.n = 0};
    const cli_option opts[] = {
        CLI_OPT_STRING("--method", "M", &method_name, "rollout method (default millivid)"),
        CLI_OPT_STRING("--config", "NAME", &config, "preset or JSON file (default mini)"),
        CLI_OPT_LIST("--set", "k=v", &sets,
                     "override a config key, e.g. --set millivid.windows=[1,4,16,64] (repeatable)"),
        CLI_OPT_INT("--context", "C", &context, 0, 1 << 24,
                    "ground-truth context frames 0..C-1 (default: eval.context, or the MilliVid reach + 1)"),
        CLI_OPT_INT("--frames", "T", &frames, 1, 1 << 24, "roll out up to frame T-1 (default eval.frames of the config)"),
        CLI_OPT_FLAG("--json", &json, "machine-readable output: every step of every chunk, absolute frames"),
    };
    int rc = cli_parse(argc, argv, &schedule_cmd, opts, MV_ARRAY_LEN(opts));
    if (rc) return rc < 0 ? 0 : 1;
    mv_config c;
    mv_schedule s = {0};
    mv_method m;
    rc = 1;
    if (mv_method_from_string(method_name, &m) != MV_OK) goto done;
    if (mv_config_load(&c, config) != MV_OK) goto done;
    for (int k = 0; k < sets.n; k++)
        if (mv_config_set(&c, sets.item[k]) != MV_OK) goto done;
    if (mv_config_validate(&c) != MV_OK) goto done;
    if (context < 0) context = mv_config_eval_context(&c);
    if (frames < 0) frames = c.video_frames;
    if (mv_schedule_build(&s, m, &c) != MV_OK) goto done;
    if (json ? mv_schedule_write_json(stdout, &s, context, frames) != MV_OK
             : mv_schedule_print(stdout, &s, context, frames, c.sample_steps, c.guidance) != MV_OK)
        goto done;
    rc = 0;
done:
    mv_schedule_free(&s);
    return rc;
}
