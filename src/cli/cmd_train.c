/* millivid train: train a video DiT on encoded latents (OFFICIAL_MODULES.md §2, §3.3, §4.2).
 * --method millivid | fullres: the universal model, one schedule step per sample (teacher forcing);
 * --method framepack: the FramePack model on clips of level-0 latents. Batches come from
 * src/models/dit_train.c, drawn from Philox stream (seed, step) only, so --resume is exact.
 * AdamW (betas 0.9/0.999, eps 1e-8, weight decay from the config on every tensor; the paper uses
 * Muon + AdamW) with lr * min(step / warmup, 1) then constant; no gradient clipping (as official). */
#include <math.h>

#include "cli.h"
#include "core/config.h"
#include "io/dataset.h"
#include "models/checkpoint.h"
#include "models/dit.h"
#include "models/dit_train.h"
#include "nn/nn.h"
#include "rollout/schedule.h"

typedef struct {
    const char *latents, *data, *out, *config, *method;
    const char *sets[64];
    int nsets;
    int steps, batch, threads, ckpt_every, log_every, resume, have_batch, have_lr, have_seed;
    double lr;
    long seed;
} train_opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: millivid train --method M --latents FILE --data DIR --out FILE [options]\n"
            "  --method M             millivid | framepack | fullres\n"
            "  --latents FILE         latents from millivid encode (level0..level3 safetensors)\n"
            "  --data DIR             the data set they were encoded from (actions.npy)\n"
            "  --out FILE             checkpoint (FILE.safetensors; optimizer state in *.optim.safetensors,\n"
            "                         loss log in *.log.jsonl)\n"
            "  --config NAME|PATH     preset (mini, paper) or JSON file [mini]\n"
            "  --set key=value        override a config key (repeatable), e.g. --set dit.depth=4\n"
            "  --steps N              total optimizer steps to reach [20000]\n"
            "  --batch B              samples per step [config dit.batch]\n"
            "  --lr X                 peak learning rate [config dit.lr]\n"
            "  --threads T            OpenMP + GEMM threads [all cores]\n"
            "  --seed K               run seed (data order, noise, init) [1]\n"
            "  --checkpoint-every K   save every K steps [config dit.checkpoint_every]\n"
            "  --log-every K          loss log line every K steps [10]\n"
            "  --resume               continue from FILE (and its optimizer state) exactly\n");
}

static int parse_opts(int argc, char **argv, train_opts *o) {
    memset(o, 0, sizeof *o);
    o->config = "mini";
    o->steps = 20000;
    o->log_every = 10;
    o->seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return -1;
        }
        if (!strcmp(a, "--resume")) {
            o->resume = 1;
            continue;
        }
        if (strncmp(a, "--", 2) || !(v = cli_value(argc, argv, &i))) {
            if (!v && !strncmp(a, "--", 2)) return 2;
            mv_fail(MV_ERR_ARG, "unexpected argument '%s' (see millivid train --help)", a);
            return 2;
        }
        mv_status s = MV_OK;
        if (!strcmp(a, "--latents")) o->latents = v;
        else if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--config")) o->config = v;
        else if (!strcmp(a, "--method")) o->method = v;
        else if (!strcmp(a, "--set")) {
            if (o->nsets == (int)MV_ARRAY_LEN(o->sets)) s = mv_fail(MV_ERR_ARG, "too many --set options");
            else o->sets[o->nsets++] = v;
        } else if (!strcmp(a, "--steps")) s = cli_int(a, v, 1, 1L << 30, &o->steps);
        else if (!strcmp(a, "--batch")) s = cli_int(a, v, 1, 4096, &o->batch), o->have_batch = 1;
        else if (!strcmp(a, "--lr")) s = cli_double(a, v, 0, 10, &o->lr), o->have_lr = 1;
        else if (!strcmp(a, "--threads")) s = cli_int(a, v, 0, 1024, &o->threads);
        else if (!strcmp(a, "--seed")) {
            int sd;
            s = cli_int(a, v, 0, 2147483647, &sd);
            o->seed = sd, o->have_seed = 1;
        } else if (!strcmp(a, "--checkpoint-every")) s = cli_int(a, v, 1, 1L << 30, &o->ckpt_every);
        else if (!strcmp(a, "--log-every")) s = cli_int(a, v, 1, 1L << 30, &o->log_every);
        else s = mv_fail(MV_ERR_ARG, "unknown option '%s' (see millivid train --help)", a);
        if (s) return 2;
    }
    if (!o->method || !o->latents || !o->data || !o->out) {
        mv_fail(MV_ERR_ARG, "--method, --latents, --data and --out are required (see millivid train --help)");
        return 2;
    }
    return 0;
}

static mv_status build_config(const train_opts *o, mv_config *cfg) {
    MV_TRY(mv_config_load(cfg, o->config));
    for (int i = 0; i < o->nsets; i++) MV_TRY(mv_config_set(cfg, o->sets[i]));
    if (o->have_batch) cfg->dit_batch = o->batch;
    if (o->have_lr) cfg->dit_lr = o->lr;
    if (o->ckpt_every) cfg->dit_checkpoint_every = o->ckpt_every;
    return mv_config_validate(cfg);
}

typedef struct {
    mv_config cfg;
    mv_method method;
    mv_schedule sched;
    mv_dit model;
    mv_latents lat;
    mv_dataset data;
    mv_dit_trainer tr;
    long start;
    uint64_t seed;
} train_run;

static const char *model_name(mv_method m) {
    return m == MV_METHOD_FRAMEPACK ? "video_framepack" : "video_universal";
}

/* Restores model + optimizer state from o->out; the checkpoint must be of this method and shapes. */
static mv_status resume_run(const train_opts *o, train_run *r) {
    mv_safetensors f;
    mv_ckpt_meta meta;
    mv_train_state ts;
    char path[1024];
    MV_TRY(mv_ckpt_path(path, sizeof path, o->out, ".safetensors"));
    MV_TRY(mv_ckpt_open(&f, &meta, path, NULL));
    mv_status s = MV_OK;
    if (strcmp(meta.model, model_name(r->method)) || strcmp(meta.variant, mv_method_name(r->method)))
        s = mv_fail(MV_ERR_ARG, "%s: checkpoint is a %s model of method '%s'; cannot resume it as --method %s",
                    path, meta.model, meta.variant, mv_method_name(r->method));
    if (!s) s = mv_ckpt_check_config(path, meta.model, &r->cfg, &meta.config);
    if (!s && r->cfg.context_cache != meta.config.context_cache)
        s = mv_fail(MV_ERR_SHAPE, "%s: config 'dit.context_cache' is %d in the file, expected %d", path,
                    meta.config.context_cache, r->cfg.context_cache);
    if (!s) s = mv_ckpt_load_params(&f, &r->model.params, "");
    mv_st_close(&f);
    if (!s) s = mv_ckpt_load_optim(o->out, &r->model.params, &ts, meta.step);
    if (s) return s;
    free(ts.data_state);
    if (o->have_seed && (uint64_t)o->seed != ts.seed)
        MV_WARN("--seed %ld ignored: resuming the run of seed %llu", o->seed, (unsigned long long)ts.seed);
    r->seed = ts.seed;
    r->start = meta.step;
    MV_INFO("resuming %s at step %ld", path, r->start);
    return MV_OK;
}

static mv_status save_run(const train_opts *o, train_run *r, long step) {
    mv_ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.model, sizeof meta.model, "%s", model_name(r->method));
    snprintf(meta.variant, sizeof meta.variant, "%s", mv_method_name(r->method));
    snprintf(meta.ae_hash, sizeof meta.ae_hash, "%s", r->lat.ae_hash);
    meta.config = r->cfg;
    meta.step = step;
    mv_train_state ts = {.step = step, .seed = r->seed};
    return mv_ckpt_save(o->out, &r->model.params, &meta, &ts);
}

static mv_status train_loop(const train_opts *o, train_run *r) {
    mv_params *p = &r->model.params;
    FILE *log = NULL;
    MV_TRY(mv_ckpt_log_open(&log, o->out, o->resume ? r->start : -1));
    mv_progress prog;
    mv_progress_start(&prog, "train", o->steps - r->start, "step");
    mv_status s = MV_OK;
    double t0 = mv_now(), ema = 0;
    long tokens = (long)r->tr.B * r->tr.T;
    for (long step = r->start; step < o->steps; step++) {
        float loss;
        mv_params_zero_grad(p);
        if ((s = mv_dit_train_step(&r->tr, r->seed, step, &loss))) goto done;
        if (!isfinite(loss)) {
            s = mv_fail(MV_ERR_INTERNAL, "loss became %g at step %ld (try a lower --lr)", loss, step + 1);
            goto done;
        }
        float lr = lr_warmup((float)r->cfg.dit_lr, step, r->cfg.dit_warmup);
        adamw_update(p->data, p->grad, p->m, p->v, p->total, lr, 0.9f, 0.999f, 1e-8f, (float)r->cfg.weight_decay,
                     step + 1);
        long done = step + 1;
        if (done % o->log_every == 0 || done == o->steps) {
            char line[256];
            snprintf(line, sizeof line, "{\"step\": %ld, \"loss\": %.9g, \"lr\": %.9g}", done, loss, lr);
            if ((s = mv_ckpt_log_write(log, line))) goto done;
        }
        if (done % r->cfg.dit_checkpoint_every == 0 || done == o->steps)
            if ((s = save_run(o, r, done))) goto done;
        ema = step == r->start ? loss : 0.95 * ema + 0.05 * loss;
        double el = mv_now() - t0;
        char extra[160];
        snprintf(extra, sizeof extra, "loss %.4f  %.2f steps/s  %.0f tokens/s", ema, (done - r->start) / el,
                 (done - r->start) * tokens / el);
        mv_progress_update(&prog, done - r->start, extra);
        if (done == o->steps) mv_progress_end(&prog, done - r->start, extra);
    }
done:
    fclose(log);
    return s;
}

static mv_status run(const train_opts *o) {
    train_run r;
    memset(&r, 0, sizeof r);
    mv_status s;
    if ((s = mv_method_from_string(o->method, &r.method))) return s;
    if ((s = build_config(o, &r.cfg))) return s;
    mv_dit_kind kind = r.method == MV_METHOD_FRAMEPACK ? MV_DIT_FRAMEPACK : MV_DIT_UNIVERSAL;
    if ((s = mv_schedule_build(&r.sched, r.method, &r.cfg))) goto fail;
    if ((s = mv_dataset_open(&r.data, o->data))) goto fail;
    if ((s = mv_latents_open(&r.lat, o->latents, &r.cfg, r.method == MV_METHOD_MILLIVID ? r.cfg.levels : 1)))
        goto fail;
    if ((s = mv_dit_create(&r.model, &r.cfg, kind, 1))) goto fail;
    r.seed = (uint64_t)o->seed;
    if (o->resume) {
        if ((s = resume_run(o, &r))) goto fail;
        if (r.start >= o->steps) {
            s = mv_fail(MV_ERR_ARG, "%s is already at step %ld (>= --steps %d): nothing to do", o->out, r.start, o->steps);
            goto fail;
        }
    } else {
        mv_dit_init_weights(&r.model, r.seed);
    }
    if ((s = mv_dit_trainer_init(&r.tr, &r.model, &r.sched, &r.lat, (const float *)r.data.actions.data, r.data.videos,
                                 r.data.frames_per_video, r.cfg.dit_batch))) {
        goto fail;
    }
    char *js = mv_config_to_json(&r.cfg);
    fprintf(stderr, "configuration:\n%s\n", js ? js : "?");
    free(js);
    fprintf(stderr,
            "%s (%s model): %zu parameters, batch %d x %d tokens, ~%.0f MB of activations\n"
            "latents: %s (%d videos x %d frames, ae %s), steps %ld -> %d, %d threads\n",
            mv_method_name(r.method), mv_dit_kind_name(kind), r.model.params.total, r.tr.B, r.tr.T,
            mv_dit_trainer_bytes(&r.tr) / 1e6 + r.model.params.total * 16e-6, o->latents, r.lat.videos,
            r.lat.frames, r.lat.ae_hash[0] ? r.lat.ae_hash : "unknown", r.start, o->steps, mv_get_threads());
    s = train_loop(o, &r);
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
    int rc = parse_opts(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    mv_set_threads(o.threads);
    return run(&o) == MV_OK ? 0 : 1;
}
