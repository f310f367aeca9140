/* millivid train: train a video DiT on encoded latents (OFFICIAL_MODULES.md §2, §3.3, §4.2).
 * --method millivid | fullres: the universal model, one schedule step per sample (teacher forcing);
 * --method framepack: the FramePack model on clips of level-0 latents. Batches come from
 * src/pipeline/dit_batch.c, sample i of step s drawn from Philox stream (seed, s, i) only, so --resume is
 * exact and `mpirun -np N` ranks (train_common.h) split the same global batch.
 * Optimizer (nn/optim.h): Muon on the 2-D linear weights + AdamW on the rest, as the paper (default), or
 * AdamW on everything; weight decay from the config; lr * min(step / warmup, 1) then constant; no
 * gradient clipping (as official). */

#include "train_common.h"
#include "core/dist.h"
#include "io/dataset.h"
#include "models/checkpoint.h"
#include "models/dit.h"
#include "pipeline/dit_batch.h"
#include "rollout/schedule.h"

typedef struct {
    mv_train_opts t; /* --out, --config, --steps, --batch, ... */
    cli_list sets;   /* --set */
    const char *latents, *data, *method, *init;
} train_opts;

static const cli_command train_cmd = {
    "train", "usage: millivid train --method M --latents FILE --data DIR --out FILE [options]\n", NULL};

static int parse_opts(int argc, char **argv, train_opts *o) {
    memset(o, 0, sizeof *o);
    mv_train_opts_init(&o->t);
    const cli_option opts[] = {
        CLI_OPT_STRING("--method", "M", &o->method, "millivid | framepack | fullres", .required = 1),
        CLI_OPT_STRING("--latents", "FILE", &o->latents, "latents from millivid encode (level0..level3 safetensors)",
                       .required = 1),
        CLI_OPT_STRING("--data", "DIR", &o->data, "the data set they were encoded from (actions.npy)", .required = 1),
        CLI_OPT_STRING("--out", "FILE", &o->t.out,
                       "checkpoint (FILE.safetensors; optimizer state in *.optim.safetensors,\n"
                       "loss log in *.log.jsonl)", .required = 1),
        TRAIN_COMMON_OPTIONS(&o->t, &o->sets, "dit", "samples", "data order, noise"),
        CLI_OPT_FLAG("--resume", &o->t.resume, "continue from FILE (and its optimizer state) exactly"),
        CLI_OPT_STRING("--init", "CKPT", &o->init,
                       "new run from the weights of CKPT (same method and shapes), counting steps on from\n"
                       "its step, with a fresh optimizer and the lr warm-up restarted"),
        TRAIN_BF16_OPTION(&o->t),
    };
    return cli_parse(argc, argv, &train_cmd, opts, MV_ARRAY_LEN(opts));
}

typedef struct {
    const train_opts *o;
    mv_config cfg;
    mv_method method;
    mv_schedule sched;
    mv_dit model;
    mv_latents lat;
    mv_dataset data;
    mv_dit_trainer tr;
    mv_train_position pos;
    mv_progress bar;
} train_run;

static const char *model_name(mv_method m) { return mv_dit_kind_model(mv_method_dit_kind(m)); }

/* Loads the weights of checkpoint `path` (this method and shapes) into the model; *step = its step. */
static mv_status load_weights(train_run *r, const char *path, long *step) {
    mv_safetensors f;
    mv_ckpt_meta meta;
    MV_TRY(mv_ckpt_open(&f, &meta, path, NULL));
    mv_status s = MV_OK;
    if (strcmp(meta.model, model_name(r->method)) || strcmp(meta.variant, mv_method_name(r->method)))
        s = mv_fail(MV_ERR_ARG, "%s: checkpoint is a %s model of method '%s'; cannot resume it as --method %s",
                    path, meta.model, meta.variant, mv_method_name(r->method));
    if (!s) s = mv_ckpt_check_config(path, meta.model, &r->cfg, &meta.config);
    if (!s && r->cfg.context_cache != meta.config.context_cache)
        s = mv_fail(MV_ERR_SHAPE, "%s: config 'dit.context_cache' is %d in the file, expected %d", path,
                    meta.config.context_cache, r->cfg.context_cache);
    if (!s && r->lat.ae_hash[0] && meta.ae_hash[0] && strcmp(r->lat.ae_hash, meta.ae_hash))
        s = mv_fail(MV_ERR_ARG, "%s: the model was trained on latents of autoencoder %s, --latents are of %s",
                    path, meta.ae_hash, r->lat.ae_hash);
    if (!s) s = mv_ckpt_load_params(&f, &r->model.params, "");
    mv_st_close(&f);
    *step = meta.step;
    return s;
}

/* Restores model + optimizer state from --out. */
static mv_status resume_run(const train_opts *o, train_run *r) {
    char path[1024];
    long step = 0;
    MV_TRY(mv_ckpt_path(path, sizeof path, o->t.out, ".safetensors"));
    MV_TRY(load_weights(r, path, &step));
    MV_TRY(mv_train_resume(&o->t, &r->model.params, step, &r->pos));
    MV_INFO("resuming %s at step %ld", path, r->pos.start);
    return MV_OK;
}

/* A new run from the weights of --init: steps go on from its step; the optimizer starts fresh and the
 * lr warm-up starts again there, so the run's log says where its weights came from. */
static mv_status init_run(const train_opts *o, train_run *r) {
    long step = 0;
    MV_TRY(load_weights(r, o->init, &step));
    r->pos.start = r->pos.warmup_start = step;
    MV_INFO("new run from the weights of %s (step %ld): fresh %s state, lr warm-up restarted", o->init, step,
            mv_optim_name(r->pos.optimizer));
    return MV_OK;
}

static mv_status train_step(void *user, long step, float *loss, double *weight) {
    train_run *r = user;
    MV_TRY(mv_dit_train_step(&r->tr, r->pos.seed, step, loss));
    *weight = (double)r->tr.loss_count;
    return MV_OK;
}

static void log_line(void *user, char *buf, size_t cap, long done, float loss, float lr) {
    snprintf(buf, cap, "{\"step\": %ld, \"loss\": %.9g, \"lr\": %.9g}", done, loss, lr);
}

static mv_status save_run(void *user, long step) {
    train_run *r = user;
    return mv_train_save(&r->o->t, &r->model.params, model_name(r->method), mv_method_name(r->method),
                         r->lat.ae_hash, &r->cfg, step, &r->pos);
}

/* The progress bar, with the text after it: ema of the loss, speed. */
static void progress(void *user, const mv_train_progress *p) {
    train_run *r = user;
    long run_steps = p->done - p->start;
    char extra[200];
    snprintf(extra, sizeof extra, "loss %.4f  %.2f steps/s  %.0f tokens/s", p->ema, run_steps / p->seconds,
             run_steps * (double)r->cfg.dit_batch * r->tr.T / p->seconds);
    train_common_progress(&r->bar, "train", p, extra);
}

static mv_status train_loop(train_run *r) {
    mv_train_loop_def d = {.params = &r->model.params, .lr = r->cfg.dit_lr,
                           .warmup = r->cfg.dit_warmup, .ckpt_every = r->cfg.dit_checkpoint_every,
                           .weight_decay = r->cfg.weight_decay, .pos = r->pos, .user = r, .step = train_step,
                           .log_line = log_line, .save = save_run, .progress = progress};
    return mv_train_loop(&r->o->t, &d);
}

/* Everything before the loop: config, data, model (new, --init or --resume) and batch buffers for this
 * rank's share of the batch. */
static mv_status setup(void *user) {
    train_run *r = user;
    const train_opts *o = r->o;
    MV_TRY(mv_method_from_string(o->method, &r->method));
    MV_TRY(mv_train_config(&o->t, &r->cfg, &r->cfg.dit_batch, &r->cfg.dit_lr, &r->cfg.dit_checkpoint_every));
    MV_TRY(mv_schedule_build(&r->sched, r->method, &r->cfg));
    MV_TRY(mv_dataset_open(&r->data, o->data));
    MV_TRY(mv_latents_open(&r->lat, o->latents, &r->cfg, r->method == MV_METHOD_MILLIVID ? r->cfg.levels : 1));
    MV_TRY(mv_dit_create(&r->model, &r->cfg, mv_method_dit_kind(r->method), 1));
    if (o->t.resume && o->init)
        return mv_fail(MV_ERR_ARG, "--resume and --init exclude each other (--resume continues %s itself)", o->t.out);
    if (o->t.resume) {
        MV_TRY(resume_run(o, r));
    } else {
        MV_TRY(mv_train_fresh(&o->t, &r->pos));
        if (o->init)
            MV_TRY(init_run(o, r));
        else
            mv_dit_init_weights(&r->model, r->pos.seed);
    }
    if (r->pos.start >= o->t.steps)
        return mv_fail(MV_ERR_ARG, "%s is already at step %ld (>= --steps %d): nothing to do", o->t.out,
                       r->pos.start, o->t.steps);
    int first, count;
    mv_train_share(r->cfg.dit_batch, &first, &count);
    MV_TRY(mv_dit_trainer_init(&r->tr, &r->model, &r->sched, &r->lat, (const float *)r->data.actions.data,
                               r->data.videos, r->data.frames_per_video, count));
    r->tr.first = first;
    return MV_OK;
}

/* The identity of the training data: the data set and the latents (shapes, autoencoder hash, first and
 * last frame of every video at every level). */
static uint64_t data_hash(const train_run *r) {
    uint64_t h = mv_train_data_hash(MV_FNV_OFFSET, &r->data);
    h = mv_fnv1a(h, r->lat.ae_hash, strlen(r->lat.ae_hash));
    for (int l = 0; l < r->lat.levels; l++) {
        const mv_tensor_view *t = r->lat.level[l];
        size_t frame = t->nbytes / ((size_t)t->shape[0] * t->shape[1]);
        h = mv_fnv1a(h, t->shape, sizeof t->shape);
        for (int v = 0; v < r->lat.videos; v++) {
            const char *base = (const char *)t->data + (size_t)v * t->shape[1] * frame;
            h = mv_fnv1a(h, base, frame);
            h = mv_fnv1a(h, base + (t->shape[1] - 1) * frame, frame);
        }
    }
    return h;
}

static mv_status run(const train_opts *o) {
    train_run r;
    memset(&r, 0, sizeof r);
    r.o = o;
    mv_status s = mv_train_setup(setup, &r);
    if (!s && mv_dist_size() > 1)
        s = mv_train_check_same(&o->t, &r.cfg, mv_method_name(r.method), data_hash(&r), &r.model.params, &r.pos);
    if (s) goto fail;
    if (mv_dist_rank() == 0) {
        char *js = mv_config_to_json(&r.cfg);
        fprintf(stderr, "configuration:\n%s\n", js ? js : "?");
        free(js);
        fprintf(stderr,
                "%s (%s model): %zu parameters, batch %d x %d tokens, ~%.0f MB of activations\n"
                "latents: %s (%d videos x %d frames, ae %s), steps %ld -> %d, %d ranks x %d threads\n",
                mv_method_name(r.method), mv_dit_kind_name(r.model.kind), r.model.params.total, r.cfg.dit_batch,
                r.tr.T, mv_dit_trainer_bytes(&r.tr) / 1e6 + r.model.params.total * 16e-6, o->latents, r.lat.videos,
                r.lat.frames, r.lat.ae_hash[0] ? r.lat.ae_hash : "unknown", r.pos.start, o->t.steps,
                mv_dist_size(), mv_get_threads());
        if (mv_dist_size() > 1)
            fprintf(stderr, "data parallel: rank 0 of %d trains samples [0, %d) of each batch of %d\n",
                    mv_dist_size(), r.tr.B, r.cfg.dit_batch);
    }
    s = train_loop(&r);
fail:
    mv_dit_trainer_free(&r.tr);
    mv_dit_free(&r.model);
    mv_latents_close(&r.lat);
    mv_dataset_close(&r.data);
    mv_schedule_free(&r.sched);
    return s;
}

int cmd_train(int argc, char **argv) {
    train_opts o;
    if (mv_dist_init()) return 1;
    int rc = train_common_parsed(parse_opts(argc, argv, &o), &o.t, &o.sets);
    if (rc) return rc < 0 ? 0 : rc;
    return run(&o) == MV_OK ? 0 : 1;
}
