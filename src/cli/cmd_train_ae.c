/* millivid train-ae: train the hierarchical autoencoder (OFFICIAL_MODULES.md §1.5) on random frames of a
 * data set. Each step draws B (video, frame, kept level) triples, triple i from Philox stream
 * (seed, step, i) only, so a resumed run sees exactly the batches of an uninterrupted one, and
 * `mpirun -np N` ranks (train_common.h) split the same global batch. Loss = MSE over all pyramid
 * patches weighted by 4^level. The paper adds 0.05 x LPIPS(VGG); we leave it out because LPIPS needs
 * pretrained VGG weights that this project cannot download (and no cheap substitute keeps the twin test
 * exact). AdamW (betas 0.9/0.999, eps 1e-8, weight decay from the config on every tensor) with
 * lr * min(step / warmup, 1), then constant, as the official schedule (Muon is replaced by AdamW). */
#include <unistd.h>

#include "train_common.h"
#include "core/dist.h"
#include "core/rng.h"
#include "io/dataset.h"
#include "models/autoencoder.h"
#include "models/checkpoint.h"

typedef struct {
    mv_train_opts t; /* --out, --config, --steps, --batch, ... */
    cli_list sets;   /* --set */
    const char *data, *variant;
} train_opts;

static const cli_command train_ae_cmd = {
    "train-ae", "usage: millivid train-ae --data DIR --out FILE [options]\n", NULL};

static int parse_opts(int argc, char **argv, train_opts *o) {
    memset(o, 0, sizeof *o);
    mv_train_opts_init(&o->t);
    const cli_option opts[] = {
        CLI_OPT_STRING("--data", "DIR", &o->data, "training data set (frames.npy, actions.npy, index.json)",
                       .required = 1),
        CLI_OPT_STRING("--out", "FILE", &o->t.out,
                       "checkpoint (FILE.safetensors; optimizer state in *.optim.safetensors,\n"
                       "loss log in *.log.jsonl)", .required = 1),
        CLI_OPT_STRING("--variant", "V", &o->variant, "adaptive | cascaded [adaptive]"),
        TRAIN_COMMON_OPTIONS(&o->t, &o->sets, "ae", "frames", "data order, levels"),
        CLI_OPT_FLAG("--resume", &o->t.resume,
                     "continue from FILE (and its optimizer state); bit-exact with an\n"
                     "uninterrupted run at the same --threads"),
        TRAIN_BF16_OPTION(&o->t),
    };
    return cli_parse(argc, argv, &train_ae_cmd, opts, MV_ARRAY_LEN(opts));
}

/* The run being trained: model, data, optimizer position. */
typedef struct {
    const train_opts *o;
    mv_config cfg;
    mv_ae ae;
    mv_dataset data;
    mv_ae_work *work;
    mv_train_position pos;
    int first, B;   /* this rank's samples [first, first + B) of each global batch */
    float *patches; /* [B, T, 3P^2] */
    uint8_t *frames;/* [B, H, W, 3] */
    int *keep;      /* [B] */
    float loss_levels[MV_MAX_LEVELS]; /* of the last step */
    mv_progress bar;
} train_run;

/* Restores model + optimizer state from --out; the checkpoint must match the requested shapes. */
static mv_status resume_run(const train_opts *o, train_run *r, mv_ae_variant variant) {
    mv_safetensors f;
    mv_ckpt_meta meta;
    char path[1024];
    MV_TRY(mv_ckpt_path(path, sizeof path, o->t.out, ".safetensors"));
    MV_TRY(mv_ckpt_open(&f, &meta, path, "autoencoder"));
    mv_status s = mv_ckpt_check_config(path, "autoencoder", &r->cfg, &meta.config);
    if (!s && o->variant && strcmp(meta.variant, mv_ae_variant_name(variant)))
        s = mv_fail(MV_ERR_ARG, "%s: checkpoint variant is %s, --variant asks for %s", path, meta.variant,
                    mv_ae_variant_name(variant));
    if (!s) s = mv_ae_variant_parse(meta.variant, &variant); /* without --variant: the checkpoint's */
    if (!s) s = mv_ae_create(&r->ae, &r->cfg, variant, 1);
    if (!s) s = mv_ckpt_load_params(&f, &r->ae.params, NULL);
    mv_st_close(&f);
    if (!s) s = mv_train_resume(&o->t, &r->ae.params, meta.step, &r->pos);
    return s;
}

/* This rank's samples of step `step`: sample i of the global batch is a random (video, frame, kept
 * level) from Philox stream (seed, step, i). */
static void draw_batch(train_run *r, long step) {
    mv_rng base, g;
    mv_rng_init(&base, r->pos.seed);
    g = mv_rng_fork(&base, 1000003ull + (uint64_t)step);
    size_t fb = (size_t)r->data.size * r->data.size * 3;
    for (int b = 0; b < r->B; b++) {
        mv_rng gi = mv_rng_fork(&g, (uint64_t)(r->first + b));
        int v = (int)mv_rng_below(&gi, (uint32_t)r->data.videos);
        int t = (int)mv_rng_below(&gi, (uint32_t)r->data.frames_per_video);
        r->keep[b] = (int)mv_rng_below(&gi, (uint32_t)r->ae.L);
        memcpy(r->frames + b * fb, mv_dataset_frame(&r->data, v, t), fb);
    }
    mv_ae_pyramid_u8(&r->ae, r->work, r->patches, r->frames, r->B);
}

/* Draws this rank's share of step `step` and returns its loss (gradients accumulated); the loss is a
 * mean over samples. */
static mv_status train_step(void *user, long step, float *loss, double *weight) {
    train_run *r = user;
    draw_batch(r, step);
    *loss = mv_ae_train_step(&r->ae, r->work, r->patches, r->keep, r->B, r->loss_levels);
    *weight = r->B;
    return MV_OK;
}

static void log_line(void *user, char *buf, size_t cap, long done, float loss, float lr) {
    const train_run *r = user;
    int n = snprintf(buf, cap, "{\"step\": %ld, \"loss\": %.9g, \"lr\": %.9g, \"loss_levels\": [", done, loss, lr);
    for (int l = 0; l < r->ae.L; l++) n += snprintf(buf + n, cap - n, "%s%.9g", l ? ", " : "", r->loss_levels[l]);
    snprintf(buf + n, cap - n, "]}");
}

static mv_status save_run(void *user, long step) {
    train_run *r = user;
    return mv_train_save(&r->o->t, &r->ae.params, "autoencoder", mv_ae_variant_name(r->ae.variant), NULL,
                         &r->cfg, step, &r->pos);
}

/* The progress bar, with the text after it: ema of the loss, speed. */
static void progress(void *user, const mv_train_progress *p) {
    train_run *r = user;
    char extra[200];
    size_t cap = sizeof extra;
    int n = snprintf(extra, cap, "loss %.4f [", p->ema);
    for (int l = 0; l < r->ae.L; l++) n += snprintf(extra + n, cap - n, "%s%.4f", l ? " " : "", r->loss_levels[l]);
    snprintf(extra + n, cap - n, "] %.1f frames/s", (p->done - p->start) * r->cfg.ae_batch / p->seconds);
    train_common_progress(&r->bar, "train-ae", p, extra);
}

static mv_status train_loop(train_run *r) {
    mv_train_loop_def d = {.params = &r->ae.params, .lr = r->cfg.ae_lr,
                           .warmup = r->cfg.ae_warmup, .ckpt_every = r->cfg.ae_checkpoint_every,
                           .weight_decay = r->cfg.weight_decay, .pos = r->pos, .user = r, .step = train_step,
                           .log_line = log_line, .save = save_run, .progress = progress, .stats = r->loss_levels,
                           .nstats = r->ae.L};
    return mv_train_loop(&r->o->t, &d);
}

/* Everything before the loop: config, data, model (new or --resume) and buffers for this rank's share
 * of the batch. */
static mv_status setup(void *user) {
    train_run *r = user;
    const train_opts *o = r->o;
    mv_ae_variant variant = MV_AE_ADAPTIVE;
    MV_TRY(mv_train_config(&o->t, &r->cfg, &r->cfg.ae_batch, &r->cfg.ae_lr, &r->cfg.ae_checkpoint_every));
    if (o->variant) MV_TRY(mv_ae_variant_parse(o->variant, &variant));
    MV_TRY(mv_dataset_open(&r->data, o->data));
    if (r->data.size != r->cfg.image_size)
        return mv_fail(MV_ERR_SHAPE, "%s: frames are %dx%d but config '%s' expects image_size %d", o->data,
                       r->data.size, r->data.size, r->cfg.preset, r->cfg.image_size);
    if (o->t.resume) {
        MV_TRY(resume_run(o, r, variant));
        if (r->pos.start >= o->t.steps)
            return mv_fail(MV_ERR_ARG, "%s is already at step %ld (>= --steps %d): nothing to do", o->t.out,
                           r->pos.start, o->t.steps);
        MV_INFO("resuming %s at step %ld", o->t.out, r->pos.start);
    } else {
        MV_TRY(mv_train_fresh(&o->t, &r->pos));
        MV_TRY(mv_ae_create(&r->ae, &r->cfg, variant, 1));
        mv_ae_init_weights(&r->ae, r->pos.seed);
    }
    mv_train_share(r->cfg.ae_batch, &r->first, &r->B);
    int B = r->B;
    double need = mv_ae_work_bytes(&r->ae, B, 1) + r->ae.params.total * 16.0;
    double have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (have > 0 && need > 0.9 * have)
        return mv_fail(MV_ERR_NOMEM, "batch %d needs about %.1f GB but this machine has %.1f GB: use a smaller --batch",
                       B, need / 1e9, have / 1e9);
    MV_TRY(mv_ae_work_create(&r->work, &r->ae, B, 1));
    r->patches = malloc((size_t)B * r->ae.T * r->ae.PD * sizeof(float));
    r->frames = malloc((size_t)B * r->ae.H * r->ae.H * 3);
    r->keep = malloc((size_t)B * sizeof(int));
    if (!r->patches || !r->frames || !r->keep) return mv_fail(MV_ERR_NOMEM, "out of memory");
    return MV_OK;
}

static mv_status run(const train_opts *o) {
    train_run r;
    memset(&r, 0, sizeof r);
    r.o = o;
    mv_status s = mv_train_setup(setup, &r);
    if (!s && mv_dist_size() > 1)
        s = mv_train_check_same(&o->t, &r.cfg, mv_ae_variant_name(r.ae.variant),
                                mv_train_data_hash(MV_FNV_OFFSET, &r.data), &r.ae.params, &r.pos);
    if (s) goto fail;
    if (mv_dist_rank() == 0) {
        char *js = mv_config_to_json(&r.cfg);
        fprintf(stderr, "configuration:\n%s\n", js ? js : "?");
        free(js);
        fprintf(stderr, "autoencoder %s: %zu parameters, %d tokens per frame, batch %d, ~%.0f MB of memory\n"
                        "data: %s (%d videos x %d frames), steps %ld -> %d, %d ranks x %d threads\n",
                mv_ae_variant_name(r.ae.variant), r.ae.params.total, r.ae.T, r.cfg.ae_batch,
                (mv_ae_work_bytes(&r.ae, r.B, 1) + r.ae.params.total * 16.0) / 1e6, o->data, r.data.videos,
                r.data.frames_per_video, r.pos.start, o->t.steps, mv_dist_size(), mv_get_threads());
        if (mv_dist_size() > 1)
            fprintf(stderr, "data parallel: rank 0 of %d trains samples [0, %d) of each batch of %d\n",
                    mv_dist_size(), r.B, r.cfg.ae_batch);
    }
    s = train_loop(&r);
fail:
    free(r.patches);
    free(r.frames);
    free(r.keep);
    mv_ae_work_free(r.work);
    mv_ae_free(&r.ae);
    mv_dataset_close(&r.data);
    return s;
}

int cmd_train_ae(int argc, char **argv) {
    train_opts o;
    if (mv_dist_init()) return 1;
    int rc = train_common_parsed(parse_opts(argc, argv, &o), &o.t, &o.sets);
    if (rc) return rc < 0 ? 0 : rc;
    return run(&o) == MV_OK ? 0 : 1;
}
