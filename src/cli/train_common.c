/* Shared pieces of `millivid train` and `millivid train-ae` (see train_common.h). */
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train_common.h"
#include "core/gemm.h"
#include "models/checkpoint.h"
#include "nn/nn.h"

void train_common_defaults(train_common_opts *t) {
    memset(t, 0, sizeof *t);
    t->config = "mini";
    t->steps = 20000;
    t->log_every = 10;
    t->seed = 1;
}

mv_status train_common_config(const train_common_opts *t, mv_config *cfg, int *batch, double *lr, int *ckpt_every) {
    mv_set_threads(t->threads);
    if (t->bf16) mv_set_matmul_precision(MV_MATMUL_BF16);
    MV_TRY(mv_config_load(cfg, t->config));
    for (int i = 0; i < t->sets.n; i++) MV_TRY(mv_config_set(cfg, t->sets.item[i]));
    if (t->have_batch) *batch = t->batch;
    if (t->have_lr) *lr = t->lr;
    if (t->ckpt_every) *ckpt_every = t->ckpt_every;
    return mv_config_validate(cfg);
}

/* mkdir -p of the directory part of path. */
static mv_status make_parent_dirs(const char *path) {
    char dir[1024];
    if ((size_t)snprintf(dir, sizeof dir, "%s", path) >= sizeof dir) return mv_fail(MV_ERR_ARG, "%s: path too long", path);
    for (char *c = dir + 1; *c; c++) {
        if (*c != '/') continue;
        *c = 0;
        if (mkdir(dir, 0777) && errno != EEXIST)
            return mv_fail(MV_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
        *c = '/';
    }
    return MV_OK;
}

mv_status train_common_fresh(const train_common_opts *t, train_position *pos) {
    char path[1024];
    memset(pos, 0, sizeof *pos);
    pos->seed = (uint64_t)t->seed;
    pos->optimizer = TRAIN_DEFAULT_OPTIMIZER;
    if (t->optimizer) MV_TRY(mv_optim_from_string(t->optimizer, &pos->optimizer));
    MV_TRY(mv_ckpt_path(path, sizeof path, t->out, ".safetensors"));
    if (!t->force && access(path, F_OK) == 0)
        return mv_fail(MV_ERR_ARG, "%s exists: pass --resume to continue that run or --force to start over", path);
    return make_parent_dirs(path);
}

mv_status train_common_resume(const train_common_opts *t, mv_params *p, long step, train_position *pos) {
    mv_train_state ts;
    MV_TRY(mv_ckpt_load_optim(t->out, p, &ts, step));
    free(ts.data_state);
    mv_optim_kind run_opt, want;
    char optim_path[1024];
    MV_TRY(mv_ckpt_path(optim_path, sizeof optim_path, t->out, ".optim.safetensors"));
    if (mv_optim_from_string(ts.optimizer, &run_opt))
        return mv_fail(MV_ERR_FORMAT, "%s: unknown optimizer '%s' in the metadata", optim_path, ts.optimizer);
    if (t->optimizer) {
        MV_TRY(mv_optim_from_string(t->optimizer, &want));
        if (want != run_opt)
            return mv_fail(MV_ERR_ARG, "%s: the run was trained with --optimizer %s; it cannot resume with %s "
                                       "(start a new run under another --out)", optim_path, ts.optimizer, t->optimizer);
    }
    if (t->have_seed && (uint64_t)t->seed != ts.seed)
        MV_WARN("--seed %d ignored: resuming the run of seed %llu", t->seed, (unsigned long long)ts.seed);
    pos->seed = ts.seed;
    pos->start = step;
    pos->optimizer = run_opt;
    pos->warmup_start = ts.warmup_start;
    return MV_OK;
}

mv_status train_common_save(const train_common_opts *t, const mv_params *p, const char *model, const char *variant,
                            const char *ae_hash, const mv_config *cfg, long step, const train_position *pos) {
    mv_ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.model, sizeof meta.model, "%s", model);
    snprintf(meta.variant, sizeof meta.variant, "%s", variant);
    if (ae_hash) snprintf(meta.ae_hash, sizeof meta.ae_hash, "%s", ae_hash);
    meta.config = *cfg;
    meta.step = step;
    mv_train_state ts = {.step = step, .seed = pos->seed, .warmup_start = pos->warmup_start};
    snprintf(ts.optimizer, sizeof ts.optimizer, "%s", mv_optim_name(pos->optimizer));
    return mv_ckpt_save(t->out, p, &meta, &ts);
}

mv_status train_common_loop(const train_common_opts *t, const train_loop_def *d) {
    mv_params *p = d->params;
    long start = d->pos.start;
    FILE *log = NULL;
    mv_optimizer opt;
    MV_TRY(mv_optimizer_init(&opt, p, d->pos.optimizer));
    mv_status s = mv_ckpt_log_open(&log, t->out, t->resume ? start : -1);
    if (s) {
        mv_optimizer_free(&opt);
        return s;
    }
    MV_INFO("optimizer %s, lr %g (warm-up %d steps from step %ld), weight decay %g", mv_optim_name(d->pos.optimizer),
            d->lr, d->warmup, d->pos.warmup_start, d->weight_decay);
    mv_progress prog;
    mv_progress_start(&prog, d->label, t->steps - start, "step");
    double t0 = mv_now(), ema = 0;
    for (long step = start; step < t->steps; step++) {
        float loss;
        mv_params_zero_grad(p);
        if ((s = d->step(d->user, step, &loss))) goto done;
        if (!isfinite(loss)) {
            s = mv_fail(MV_ERR_INTERNAL, "loss became %g at step %ld (try a lower --lr)", loss, step + 1);
            goto done;
        }
        float lr = lr_warmup((float)d->lr, step - d->pos.warmup_start, d->warmup);
        mv_optimizer_step(&opt, p, lr, (float)d->weight_decay, step + 1 - d->pos.warmup_start);
        long done = step + 1;
        if (done % t->log_every == 0 || done == t->steps) {
            char line[512];
            d->log_line(d->user, line, sizeof line, done, loss, lr);
            if ((s = mv_ckpt_log_write(log, line))) goto done;
        }
        if (done % d->ckpt_every == 0 || done == t->steps)
            if ((s = d->save(d->user, done))) goto done;
        ema = step == start ? loss : 0.95 * ema + 0.05 * loss;
        char extra[200];
        d->status(d->user, extra, sizeof extra, ema, done - start, mv_now() - t0);
        mv_progress_update(&prog, done - start, extra);
        if (done == t->steps) mv_progress_end(&prog, done - start, extra);
    }
done:
    fclose(log);
    mv_optimizer_free(&opt);
    return s;
}
