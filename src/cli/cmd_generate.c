/* millivid generate: roll out a video from ground-truth context frames and an action sequence.
 * Encodes the context frames with the autoencoder, runs the method's schedule with the DiT
 * (src/rollout/rollout.c, streaming), decodes every generated frame from its level-0 latents and writes
 * an H.264 mp4 at 20 fps (the ground-truth context frames first, then the generated ones) and,
 * optionally, one PNG per frame.
 * Actions: the video's own (data set), or --actions FILE.jsonl with one action per line (a bare id
 * 0/1/2 or an object with an "action" field), either one per frame of the whole video (T lines) or
 * one per generated frame (T - C lines; the context keeps the data set's actions). */
#include <errno.h>
#include <math.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "io/config.h"
#include "core/gemm.h"
#include "io/dataset.h"
#include "io/files.h"
#include "io/image.h"
#include "io/video.h"
#include "models/autoencoder.h"
#include "models/checkpoint.h"
#include "models/dit.h"
#include "rollout/rollout.h"
#include "rollout/schedule.h"

typedef struct {
    const char *ae, *dit, *method, *data, *actions, *out, *png_dir;
    int video, context, frames, steps, threads, no_cache, have_steps, have_guidance, seed, bf16;
    double guidance;
} gen_opts;

static const cli_command generate_cmd = {
    "generate",
    "usage: millivid generate --ae FILE --dit FILE --method M --data DIR --video I [--context C]\n"
    "                         --frames T --out OUT.mp4 [options]\n",
    NULL};

static int parse_opts(int argc, char **argv, gen_opts *o) {
    memset(o, 0, sizeof *o);
    const cli_option opts[] = {
        CLI_OPT_STRING("--ae", "FILE", &o->ae, "autoencoder checkpoint (millivid train-ae)", .required = 1),
        CLI_OPT_STRING("--dit", "FILE", &o->dit, "video DiT checkpoint (millivid train)", .required = 1),
        CLI_OPT_STRING("--method", "M", &o->method, "millivid | framepack | fullres (must match the checkpoint)",
                       .required = 1),
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
        CLI_OPT_FLAG("--no-cache", &o->no_cache,
                     "do not use the context cache (models trained with dit.context_cache=1)"),
        CLI_OPT_INT("--threads", "T", &o->threads, 0, 1024, "OpenMP + GEMM threads [all cores]"),
        CLI_OPT_FLAG("--bf16", &o->bf16, "linear layers with bf16 operands (faster; the fp32 default is the reference)"),
    };
    return cli_parse(argc, argv, &generate_cmd, opts, MV_ARRAY_LEN(opts));
}

/* ---------------------------------------------------------------- actions */

/* Reads FILE.jsonl: one id per non-empty line. *ids malloc'ed. */
static mv_status read_actions_jsonl(const char *path, int **ids, int *n) {
    FILE *f = fopen(path, "r");
    if (!f) return mv_fail(MV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    int cnt = 0, alloc = 0, lineno = 0;
    int *a = NULL;
    mv_status s = MV_OK;
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '\n' || *p == '\r' || !*p) continue;
        cJSON *j = cJSON_Parse(p);
        const cJSON *v = j;
        if (j && cJSON_IsObject(j)) v = cJSON_GetObjectItemCaseSensitive(j, "action");
        double d = v && cJSON_IsNumber(v) ? v->valuedouble : NAN;
        cJSON_Delete(j);
        if (!(d == 0 || d == 1 || d == 2)) {
            s = mv_fail(MV_ERR_FORMAT, "%s: line %d: expected an action id 0 (forward), 1 (left) or 2 (right), "
                                       "or {\"action\": id}", path, lineno);
            break;
        }
        if (cnt == alloc) {
            alloc = alloc ? 2 * alloc : 256;
            int *na = realloc(a, alloc * sizeof(int));
            if (!na) {
                s = mv_fail(MV_ERR_NOMEM, "out of memory");
                break;
            }
            a = na;
        }
        a[cnt++] = (int)d;
    }
    free(line);
    fclose(f);
    if (s) {
        free(a);
        return s;
    }
    *ids = a;
    *n = cnt;
    return MV_OK;
}

/* actions [T]: the data set's for the frames it has, replaced by --actions where given. */
static mv_status build_actions(const gen_opts *o, const mv_dataset *d, int **out) {
    int T = o->frames, C = o->context, *a = calloc(T, sizeof(int)), *fa = NULL, n = 0;
    if (!a) return mv_fail(MV_ERR_NOMEM, "out of memory");
    for (int f = 0; f < T && f < d->frames_per_video; f++) a[f] = (int)mv_dataset_action(d, o->video, f)[0];
    mv_status s = MV_OK;
    if (o->actions) {
        if ((s = read_actions_jsonl(o->actions, &fa, &n))) goto fail;
        if (n == T) memcpy(a, fa, T * sizeof(int));
        else if (n == T - C) memcpy(a + C, fa, (T - C) * sizeof(int));
        else {
            s = mv_fail(MV_ERR_ARG, "%s: %d actions, expected %d (one per frame) or %d (one per generated frame)",
                        o->actions, n, T, T - C);
            goto fail;
        }
    } else if (T > d->frames_per_video) {
        s = mv_fail(MV_ERR_ARG, "%s: video %d has actions for %d frames, --frames asks for %d; give --actions FILE.jsonl",
                    o->data, o->video, d->frames_per_video, T);
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
    mv_ae ae;
    mv_ae_work *work;
    mv_dit dit;
    mv_ckpt_meta meta;
    mv_method method;
    mv_schedule sched;
    mv_dataset data;
    int *actions;
    float *ctx_lat;   /* [context, T_pyr, C] */
    float *dec_lat;   /* [T_pyr, C] */
    float *dec_out;   /* [T_pyr, 3P^2] */
    float *img;       /* [H, W, 3] */
    uint8_t *rgb;     /* [H, W, 3] */
    mv_video_writer *vw;
    mv_progress prog;
} gen_run;

static mv_status put_frame(gen_run *g, int frame, const uint8_t *rgb) {
    int S = g->ae.H;
    MV_TRY(mv_video_writer_add(g->vw, rgb));
    if (g->o->png_dir) {
        char path[1200];
        snprintf(path, sizeof path, "%s/frame_%05d.png", g->o->png_dir, frame);
        MV_TRY(mv_png_write(path, rgb, S, S));
    }
    return MV_OK;
}

static mv_status context_latents(void *user, int frame, int level, float *dst) {
    gen_run *g = user;
    const mv_ae *ae = &g->ae;
    memcpy(dst, g->ctx_lat + ((size_t)frame * ae->T + ae->offset[level]) * ae->C,
           (size_t)ae->tokens[level] * ae->C * sizeof(float));
    return MV_OK;
}

static mv_status generated_frame(void *user, int frame, const float *level0) {
    gen_run *g = user;
    const mv_ae *ae = &g->ae;
    int keep = 0, S = ae->H;
    memset(g->dec_lat, 0, (size_t)ae->T * ae->C * sizeof(float));
    memcpy(g->dec_lat + (size_t)ae->offset[0] * ae->C, level0, (size_t)ae->tokens[0] * ae->C * sizeof(float));
    mv_ae_decode(ae, g->work, g->dec_out, g->dec_lat, &keep, 1);
    mv_ae_image0(ae, g->img, g->dec_out, 1);
    for (int i = 0; i < S * S * 3; i++) {
        float v = roundf(g->img[i] * 255.0f);
        g->rgb[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    return put_frame(g, frame, g->rgb);
}

static void progress(void *user, long done, long total) {
    gen_run *g = user;
    mv_progress_update(&g->prog, done, NULL);
}

/* Loads the models and checks they fit each other, the method and the data. */
static mv_status load(gen_run *g) {
    const gen_opts *o = g->o;
    MV_TRY(mv_method_from_string(o->method, &g->method));
    MV_TRY(mv_dit_load(&g->dit, o->dit, &g->meta));
    if (!o->context) g->o->context = mv_config_reach(&g->meta.config) + 1; /* the evaluation context */
    if (strcmp(g->meta.variant, mv_method_name(g->method)))
        return mv_fail(MV_ERR_ARG, "%s: checkpoint was trained for method '%s', not --method %s", o->dit,
                       g->meta.variant, mv_method_name(g->method));
    MV_TRY(mv_ae_load(&g->ae, o->ae, 0));
    const mv_config *dc = &g->meta.config;
    if (g->ae.C != dc->latent_channels || g->ae.L != dc->levels || g->ae.H != dc->image_size || g->ae.P != dc->patch)
        return mv_fail(MV_ERR_SHAPE, "%s: autoencoder latents (%d channels, %d levels, %d px, patch %d) do not match "
                                     "the DiT %s (%d channels, %d levels, %d px, patch %d)", o->ae, g->ae.C, g->ae.L,
                       g->ae.H, g->ae.P, o->dit, dc->latent_channels, dc->levels, dc->image_size, dc->patch);
    char hash[17];
    mv_ae_hash(&g->ae, hash);
    if (g->meta.ae_hash[0] && strcmp(hash, g->meta.ae_hash))
        MV_WARN("%s was trained on latents of autoencoder %s, but %s is %s", o->dit, g->meta.ae_hash, o->ae, hash);
    MV_TRY(mv_schedule_build(&g->sched, g->method, dc));
    MV_TRY(mv_dataset_open(&g->data, o->data));
    if (o->video >= g->data.videos)
        return mv_fail(MV_ERR_ARG, "%s: --video %d but the data set has %d videos", o->data, o->video, g->data.videos);
    if (g->data.size != g->ae.H)
        return mv_fail(MV_ERR_SHAPE, "%s: frames are %d px, the models %d px", o->data, g->data.size, g->ae.H);
    if (o->context >= o->frames)
        return mv_fail(MV_ERR_ARG, "--context %d must be shorter than --frames %d", o->context, o->frames);
    if (o->context > g->data.frames_per_video)
        return mv_fail(MV_ERR_ARG, "--context %d is longer than video %d of %s (%d frames)", o->context, o->video,
                       o->data, g->data.frames_per_video);
    return build_actions(o, &g->data, &g->actions);
}

/* Encodes the context frames (batches of 16) into g->ctx_lat. */
static mv_status encode_context(gen_run *g) {
    const mv_ae *ae = &g->ae;
    int C = g->o->context, BS = 16;
    g->ctx_lat = mv_alloc((size_t)C * ae->T * ae->C * sizeof(float));
    float *patches = mv_alloc((size_t)BS * ae->T * ae->PD * sizeof(float));
    if (!g->ctx_lat || !patches) {
        mv_free(patches);
        return mv_fail(MV_ERR_NOMEM, "out of memory for %d context frames", C);
    }
    for (int f0 = 0; f0 < C; f0 += BS) {
        int n = MV_MIN(BS, C - f0);
        mv_ae_pyramid_u8(ae, g->work, patches, mv_dataset_frame(&g->data, g->o->video, f0), n);
        mv_ae_encode(ae, g->work, g->ctx_lat + (size_t)f0 * ae->T * ae->C, patches, n);
    }
    mv_free(patches);
    return MV_OK;
}

static mv_status generate(gen_run *g) {
    const gen_opts *o = g->o;
    const mv_config *dc = &g->meta.config;
    MV_TRY(load(g));
    MV_TRY(mv_ae_work_create(&g->work, &g->ae, 16, 0));
    int S = g->ae.H;
    g->dec_lat = mv_alloc((size_t)g->ae.T * g->ae.C * sizeof(float));
    g->dec_out = mv_alloc((size_t)g->ae.T * g->ae.PD * sizeof(float));
    g->img = mv_alloc((size_t)S * S * 3 * sizeof(float));
    g->rgb = malloc((size_t)S * S * 3);
    if (!g->dec_lat || !g->dec_out || !g->img || !g->rgb) return mv_fail(MV_ERR_NOMEM, "out of memory");
    MV_TRY(encode_context(g));
    mv_rollout_params p;
    mv_rollout_params_init(&p);
    p.context = o->context, p.frames = o->frames, p.seed = (uint64_t)o->seed;
    p.sample_steps = o->have_steps ? o->steps : dc->sample_steps;
    p.guidance = (float)(o->have_guidance ? o->guidance : dc->guidance);
    p.use_cache = !o->no_cache;
    if (g->method == MV_METHOD_FRAMEPACK && p.guidance != 1.0f) {
        MV_WARN("guidance %g ignored: the FramePack model never drops its conditioning (no guidance)", p.guidance);
        p.guidance = 1.0f;
    }
    p.actions = g->actions;
    p.context_fn = context_latents, p.context_user = g;
    p.frame_fn = generated_frame, p.frame_user = g;
    p.progress_fn = progress, p.progress_user = g;
    int cs0, nchunks, limit;
    MV_TRY(mv_rollout_chunks(&g->sched, o->context, o->frames, &cs0, &nchunks, &limit));
    long total = (long)nchunks * (g->method == MV_METHOD_FRAMEPACK ? 1 : g->sched.nsteps);
    fprintf(stderr, "%s: %d context + %d generated frames, %d chunks x %d steps, %d tokens per step, %d sampler "
                    "steps%s, guidance %g\n", mv_method_name(g->method), o->context, o->frames - o->context, nchunks,
            g->method == MV_METHOD_FRAMEPACK ? 1 : g->sched.nsteps,
            g->method == MV_METHOD_FRAMEPACK ? g->dit.fp_tokens : g->sched.tokens_per_step_max, p.sample_steps,
            p.use_cache && g->dit.context_cache ? " (context cache)" : "", p.guidance);
    if (o->png_dir) MV_TRY(mv_make_dirs(o->png_dir));
    MV_TRY(mv_make_parent_dirs(o->out));
    MV_TRY(mv_video_writer_open(&g->vw, o->out, S, S, 20, 18));
    for (int f = 0; f < o->context; f++) MV_TRY(put_frame(g, f, mv_dataset_frame(&g->data, o->video, f)));
    mv_progress_start(&g->prog, "generate", total, "step");
    mv_rollout_stats st;
    MV_TRY(mv_rollout_run(&g->dit, &g->sched, &p, &st));
    mv_progress_end(&g->prog, st.steps, NULL);
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
    mv_free(g.ctx_lat), mv_free(g.dec_lat), mv_free(g.dec_out), mv_free(g.img);
    free(g.rgb), free(g.actions);
    mv_ae_work_free(g.work);
    mv_ae_free(&g.ae);
    mv_dit_free(&g.dit);
    mv_schedule_free(&g.sched);
    mv_dataset_close(&g.data);
    return s == MV_OK ? 0 : 1;
}
