/* millivid generate: roll out a video from ground-truth context frames and an action sequence, through
 * the public generation API (mv_generate, src/pipeline/generator.h: encode the context, roll out the
 * checkpoint's method, decode level 0), writing an H.264 mp4 at 20 fps (the ground-truth context frames
 * first, then the generated ones) and, optionally, one PNG per frame.
 * Actions: the video's own (data set), or --actions FILE.jsonl with one action per line (a bare id
 * 0/1/2 or an object with an "action" field; the format of src/io/actions.h), either one per frame of the whole video (T lines) or
 * one per generated frame (T - C lines; the context keeps the data set's actions). */
#include "cli.h"
#include "core/gemm.h"
#include "io/actions.h"
#include "io/files.h"
#include "io/image.h"
#include "io/video.h"
#include "pipeline/generator.h"

typedef struct {
    const char *ae, *dit, *method, *data, *actions, *out, *png_dir;
    int video, context, frames, steps, threads, no_cache, have_steps, have_guidance, seed, bf16, allow_ae_mismatch;
    double guidance;
} gen_opts;

static const cli_command generate_cmd = {
    "generate",
    "usage: millivid generate --ae FILE --dit FILE --data DIR --video I [--context C]\n"
    "                         --frames T --out OUT.mp4 [options]\n",
    NULL};

static int parse_opts(int argc, char **argv, gen_opts *o) {
    memset(o, 0, sizeof *o);
    const cli_option opts[] = {
        CLI_OPT_STRING("--ae", "FILE", &o->ae, "autoencoder checkpoint (millivid train-ae)", .required = 1),
        CLI_OPT_STRING("--dit", "FILE", &o->dit, "video DiT checkpoint (millivid train)", .required = 1),
        CLI_OPT_STRING("--method", "M", &o->method,
                       "millivid | framepack | fullres: checked against the checkpoint [the checkpoint's]"),
        CLI_OPT_STRING("--data", "DIR", &o->data, "data set holding the context frames (and actions)", .required = 1),
        CLI_OPT_INT("--video", "I", &o->video, 0, 1 << 30, "video index in the data set", .required = 1),
        CLI_OPT_INT("--context", "C", &o->context, 1, 1 << 30,
                    "ground-truth context frames 0..C-1 [the MilliVid reach + 1 of the checkpoint: mini 86]"),
        CLI_OPT_INT("--frames", "T", &o->frames, 1, 1 << 30, "length of the output video (C context + T-C generated)",
                    .required = 1),
        CLI_OPT_STRING("--out", "OUT.mp4", &o->out, "output video (20 fps)", .required = 1),
        CLI_OPT_INT("--steps", "S", &o->steps, 1, 100000, "sampler steps per rollout step [config sample.steps]",
                    .given = &o->have_steps),
        CLI_OPT_DOUBLE("--guidance", "G", &o->guidance, 0, 100, "classifier-free guidance scale [config sample.guidance]",
                       .given = &o->have_guidance),
        CLI_OPT_STRING("--actions", "FILE.jsonl", &o->actions,
                       "actions, one per line (id 0 forward, 1 left, 2 right, or {\"action\": id});\n"
                       "T lines (every frame) or T-C lines (generated frames) [the video's own]"),
        CLI_OPT_INT("--seed", "K", &o->seed, 0, 2147483647, "sampling seed [0]"),
        CLI_OPT_STRING("--png-dir", "D", &o->png_dir, "also write every frame as D/frame_NNNNN.png"),
        CLI_OPT_FLAG("--allow-ae-mismatch", &o->allow_ae_mismatch,
                     "accept a DiT trained on the latents of another autoencoder (a warning, not an error)"),
        CLI_OPT_FLAG("--no-cache", &o->no_cache,
                     "do not use the context cache (models trained with dit.context_cache=1)"),
        CLI_OPT_INT("--threads", "T", &o->threads, 0, 1024, "OpenMP + GEMM threads [all cores]"),
        CLI_OPT_FLAG("--bf16", &o->bf16, "linear layers with bf16 operands (faster; the fp32 default is the reference)"),
    };
    return cli_parse(argc, argv, &generate_cmd, opts, MV_ARRAY_LEN(opts));
}

/* ---------------------------------------------------------------- actions */

/* actions [T]: the data set's for the frames it has, replaced by --actions where given. */
static mv_status build_actions(const gen_opts *o, const mv_data *d, int **out) {
    int T = o->frames, C = o->context, *a = calloc(T, sizeof(int)), *fa = NULL, n = 0;
    if (!a) return mv_fail(MV_ERR_NOMEM, "out of memory");
    for (int f = 0; f < T && f < mv_data_frames(d); f++) a[f] = mv_data_action(d, o->video, f);
    mv_status s = MV_OK;
    if (o->actions) {
        if ((s = mv_actions_read_jsonl(o->actions, &fa, &n))) goto fail;
        if (n == T) memcpy(a, fa, T * sizeof(int));
        else if (n == T - C) memcpy(a + C, fa, (T - C) * sizeof(int));
        else {
            s = mv_fail(MV_ERR_ARG, "%s: %d actions, expected %d (one per frame) or %d (one per generated frame)",
                        o->actions, n, T, T - C);
            goto fail;
        }
    } else if (T > mv_data_frames(d)) {
        s = mv_fail(MV_ERR_ARG, "%s: video %d has actions for %d frames, --frames asks for %d; give --actions FILE.jsonl",
                    o->data, o->video, mv_data_frames(d), T);
        goto fail;
    }
    free(fa);
    *out = a;
    return MV_OK;
fail:
    free(fa);
    free(a);
    return s;
}

/* ---------------------------------------------------------------- the run */

typedef struct {
    gen_opts *o;
    mv_generator *gen;
    mv_data *data;
    int *actions;
    mv_video_writer *vw;
    mv_progress prog;
    int prog_started;
} gen_run;

static mv_status put_frame(void *user, int frame, const uint8_t *rgb, int width, int height) {
    gen_run *g = user;
    MV_TRY(mv_video_writer_add(g->vw, rgb));
    if (g->o->png_dir) {
        char path[1200];
        snprintf(path, sizeof path, "%s/frame_%05d.png", g->o->png_dir, frame);
        MV_TRY(mv_png_write(path, rgb, width, height));
    }
    return MV_OK;
}

static void progress(void *user, long done, long total) {
    gen_run *g = user;
    if (!g->prog_started) mv_progress_start(&g->prog, "generate", total, "step"), g->prog_started = 1;
    mv_progress_update(&g->prog, done, NULL);
}

/* Loads the models (checked against each other by the generator), then checks the data and the actions. */
static mv_status load(gen_run *g) {
    gen_opts *o = g->o;
    mv_generator_params gp;
    mv_generator_params_init(&gp);
    gp.ae_path = o->ae, gp.dit_path = o->dit, gp.method = o->method, gp.allow_ae_mismatch = o->allow_ae_mismatch;
    MV_TRY(mv_generator_create(&g->gen, &gp));
    if (!o->context) o->context = mv_generator_default_context(g->gen); /* the evaluation context */
    MV_TRY(mv_data_open(&g->data, o->data));
    int S = mv_generator_image_size(g->gen);
    if (o->video >= mv_data_videos(g->data))
        return mv_fail(MV_ERR_ARG, "%s: --video %d but the data set has %d videos", o->data, o->video,
                       mv_data_videos(g->data));
    if (mv_data_size(g->data) != S)
        return mv_fail(MV_ERR_SHAPE, "%s: frames are %d px, the models %d px", o->data, mv_data_size(g->data), S);
    if (o->context >= o->frames)
        return mv_fail(MV_ERR_ARG, "--context %d must be shorter than --frames %d", o->context, o->frames);
    if (o->context > mv_data_frames(g->data))
        return mv_fail(MV_ERR_ARG, "--context %d is longer than video %d of %s (%d frames)", o->context, o->video,
                       o->data, mv_data_frames(g->data));
    return build_actions(o, g->data, &g->actions);
}

static mv_status generate(gen_run *g) {
    gen_opts *o = g->o;
    MV_TRY(load(g));
    const mv_gen_model *m = mv_generator_model(g->gen);
    int fp = m->method == MV_METHOD_FRAMEPACK, S = mv_generator_image_size(g->gen);
    mv_generate_params p;
    mv_generate_params_init(&p);
    p.context_frames = mv_data_video(g->data, o->video);
    p.context = o->context, p.frames = o->frames, p.actions = g->actions, p.seed = (uint64_t)o->seed;
    p.sample_steps = o->have_steps ? o->steps : 0;
    p.guidance = o->have_guidance ? o->guidance : -1;
    p.use_cache = !o->no_cache;
    p.frame_fn = put_frame, p.frame_user = g;
    p.progress_fn = progress, p.progress_user = g;
    float guidance = mv_gen_model_guidance(m, p.guidance);
    if (fp && o->have_guidance && o->guidance != 1.0)
        MV_WARN("guidance %g ignored: the FramePack model never drops its conditioning (no guidance)", o->guidance);
    int cs0, nchunks, limit;
    MV_TRY(mv_rollout_chunks(&m->sched, o->context, o->frames, &cs0, &nchunks, &limit));
    fprintf(stderr, "%s: %d context + %d generated frames, %d chunks x %d steps, %d tokens per step, %d sampler "
                    "steps%s, guidance %g\n", mv_method_name(m->method), o->context, o->frames - o->context, nchunks,
            fp ? 1 : m->sched.nsteps, fp ? m->dit.fp_tokens : m->sched.tokens_per_step_max,
            p.sample_steps ? p.sample_steps : m->meta.config.sample_steps,
            p.use_cache && m->dit.context_cache ? " (context cache)" : "", guidance);
    if (o->png_dir) MV_TRY(mv_make_dirs(o->png_dir));
    MV_TRY(mv_make_parent_dirs(o->out));
    MV_TRY(mv_video_writer_open(&g->vw, o->out, S, S, 20, 18));
    size_t px = (size_t)S * S * 3;
    for (int f = 0; f < o->context; f++) MV_TRY(put_frame(g, f, p.context_frames + f * px, S, S));
    mv_generate_stats st;
    MV_TRY(mv_generate(g->gen, &p, &st));
    if (g->prog_started) mv_progress_end(&g->prog, st.steps, NULL);
    mv_status s = mv_video_writer_close(g->vw);
    g->vw = NULL;
    if (s) return s;
    fprintf(stderr, "wrote %s (%d frames, 20 fps): %ld DiT calls, %d tokens per step, %.1f s\n", o->out, o->frames,
            st.dit_calls, st.tokens_per_step, st.seconds);
    return MV_OK;
}

int cmd_generate(int argc, char **argv) {
    gen_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    mv_set_threads(o.threads);
    if (o.bf16) mv_set_matmul_precision(MV_MATMUL_BF16);
    gen_run g;
    memset(&g, 0, sizeof g);
    g.o = &o;
    mv_status s = generate(&g);
    if (g.vw) mv_video_writer_abort(g.vw);
    free(g.actions);
    mv_data_close(g.data);
    mv_generator_free(g.gen);
    return s == MV_OK ? 0 : 1;
}
