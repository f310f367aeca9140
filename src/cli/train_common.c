/* Shared pieces of `millivid train` and `millivid train-ae` (see train_common.h). */
#include <math.h>

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

mv_status train_common_resume(const train_common_opts *t, mv_params *p, long step, uint64_t *seed, long *start) {
    mv_train_state ts;
    MV_TRY(mv_ckpt_load_optim(t->out, p, &ts, step));
    free(ts.data_state);
    if (t->have_seed && (uint64_t)t->seed != ts.seed)
        MV_WARN("--seed %d ignored: resuming the run of seed %llu", t->seed, (unsigned long long)ts.seed);
    *seed = ts.seed;
    *start = step;
    return MV_OK;
}

mv_status train_common_save(const train_common_opts *t, const mv_params *p, const char *model, const char *variant,
                            const char *ae_hash, const mv_config *cfg, long step, uint64_t seed) {
    mv_ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.model, sizeof meta.model, "%s", model);
    snprintf(meta.variant, sizeof meta.variant, "%s", variant);
    if (ae_hash) snprintf(meta.ae_hash, sizeof meta.ae_hash, "%s", ae_hash);
    meta.config = *cfg;
    meta.step = step;
    mv_train_state ts = {.step = step, .seed = seed};
    return mv_ckpt_save(t->out, p, &meta, &ts);
}

mv_status train_common_loop(const train_common_opts *t, const train_loop_def *d) {
    mv_params *p = d->params;
    FILE *log = NULL;
    MV_TRY(mv_ckpt_log_open(&log, t->out, t->resume ? d->start : -1));
    mv_progress prog;
    mv_progress_start(&prog, d->label, t->steps - d->start, "step");
    mv_status s = MV_OK;
    double t0 = mv_now(), ema = 0;
    for (long step = d->start; step < t->steps; step++) {
        float loss;
        mv_params_zero_grad(p);
        if ((s = d->step(d->user, step, &loss))) goto done;
        if (!isfinite(loss)) {
            s = mv_fail(MV_ERR_INTERNAL, "loss became %g at step %ld (try a lower --lr)", loss, step + 1);
            goto done;
        }
        float lr = lr_warmup((float)d->lr, step, d->warmup);
        adamw_update(p->data, p->grad, p->m, p->v, p->total, lr, 0.9f, 0.999f, 1e-8f, (float)d->weight_decay,
                     step + 1);
        long done = step + 1;
        if (done % t->log_every == 0 || done == t->steps) {
            char line[512];
            d->log_line(d->user, line, sizeof line, done, loss, lr);
            if ((s = mv_ckpt_log_write(log, line))) goto done;
        }
        if (done % d->ckpt_every == 0 || done == t->steps)
            if ((s = d->save(d->user, done))) goto done;
        ema = step == d->start ? loss : 0.95 * ema + 0.05 * loss;
        char extra[200];
        d->status(d->user, extra, sizeof extra, ema, done - d->start, mv_now() - t0);
        mv_progress_update(&prog, done - d->start, extra);
        if (done == t->steps) mv_progress_end(&prog, done - d->start, extra);
    }
done:
    fclose(log);
    return s;
}
