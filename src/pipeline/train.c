/* The training loop and what it needs around it (see train.h). */
#include "pipeline/train.h"

#include <math.h>
#include <omp.h>
#include <unistd.h>

#include "core/core.h"
#include "core/dist.h"
#include "core/gemm.h"
#include "io/files.h"
#include "models/checkpoint.h"
#include "nn/nn.h"

void mv_train_opts_init(mv_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->config = "mini";
    o->steps = 20000;
    o->log_every = 10;
    o->seed = 1;
}

mv_status mv_train_config(const mv_train_opts *o, mv_config *cfg, int *batch, double *lr, int *ckpt_every) {
    int threads = o->threads, local = mv_dist_local_size();
    /* A rank that sees every core of its node (not bound by mpirun) shares them with the node's ranks. */
    if (threads <= 0 && local > 1 && omp_get_num_procs() >= sysconf(_SC_NPROCESSORS_ONLN))
        threads = MV_MAX(1, omp_get_num_procs() / local);
    mv_set_threads(threads);
    if (o->bf16) mv_set_matmul_precision(MV_MATMUL_BF16);
    MV_TRY(mv_config_load(cfg, o->config));
    for (int i = 0; i < o->nsets; i++) MV_TRY(mv_config_set(cfg, o->sets[i]));
    if (o->have_batch) *batch = o->batch;
    if (o->have_lr) *lr = o->lr;
    if (o->ckpt_every) *ckpt_every = o->ckpt_every;
    MV_TRY(mv_config_validate(cfg));
    if (*batch < mv_dist_size())
        return mv_fail(MV_ERR_ARG, "batch %d is smaller than the %d ranks: every rank needs at least one sample "
                                   "(raise --batch or start fewer ranks)", *batch, mv_dist_size());
    return MV_OK;
}

void mv_train_share(int batch, int *first, int *count) {
    int r = mv_dist_rank(), n = mv_dist_size();
    *first = (int)((long)batch * r / n);
    *count = (int)((long)batch * (r + 1) / n) - *first;
}

mv_status mv_train_setup(mv_status (*setup)(void *user), void *user) {
    mv_status s = mv_dist_rank() == 0 ? setup(user) : MV_OK;
    if ((s = mv_dist_agree(s))) return s;
    if (mv_dist_rank() > 0) s = setup(user);
    return mv_dist_agree(s);
}

uint64_t mv_train_data_hash(uint64_t h, const mv_dataset *d) {
    int shape[3] = {d->videos, d->frames_per_video, d->size};
    h = mv_fnv1a(h, shape, sizeof shape);
    if (d->index_json) h = mv_fnv1a(h, d->index_json, strlen(d->index_json));
    h = mv_fnv1a(h, d->actions.data, (size_t)d->videos * d->frames_per_video * 6 * sizeof(float));
    size_t fb = (size_t)d->size * d->size * 3;
    for (int v = 0; v < d->videos; v++) {
        h = mv_fnv1a(h, mv_dataset_frame(d, v, 0), fb);
        h = mv_fnv1a(h, mv_dataset_frame(d, v, d->frames_per_video - 1), fb);
    }
    return h;
}

/* Hash of the weights, and with `all` of the optimizer moments and the position too. */
static uint64_t state_hash(const mv_params *p, const mv_train_position *pos, int all) {
    uint64_t h = mv_fnv1a(MV_FNV_OFFSET, p->data, p->total * sizeof(float));
    if (!all) return h;
    h = mv_fnv1a(h, p->m, p->total * sizeof(float));
    h = mv_fnv1a(h, p->v, p->total * sizeof(float));
    long at[4] = {pos->start, (long)pos->seed, (long)pos->optimizer, pos->warmup_start};
    return mv_fnv1a(h, at, sizeof at);
}

mv_status mv_train_check_same(const mv_train_opts *o, const mv_config *cfg, const char *what,
                                  uint64_t data_hash, const mv_params *p, const mv_train_position *pos) {
    if (mv_dist_size() == 1) return MV_OK;
    static const char *const what_differs[3] = {"its configuration differs", "its data differs",
                                                "its starting weights or optimizer state differ"};
    static const char *const advice[3] = {
        "start every rank with the same options, --set values and config file",
        "every rank must read the same --data and --latents contents",
        "every rank must resume the same checkpoint (a shared file system, or the same copy on every node)"};
    mv_status s = MV_OK;
    char *js = mv_config_to_json(cfg), opts[256];
    if (!js) s = mv_fail(MV_ERR_NOMEM, "out of memory");
    snprintf(opts, sizeof opts, "\n%s steps %d log-every %d bf16 %d", what, o->steps, o->log_every, o->bf16);
    uint64_t mine[3], root[3];
    mine[0] = mv_fnv1a(mv_fnv1a(MV_FNV_OFFSET, js ? js : "", js ? strlen(js) : 0), opts,
                                strlen(opts));
    mine[1] = data_hash;
    mine[2] = state_hash(p, pos, 1);
    free(js);
    memcpy(root, mine, sizeof root);
    mv_dist_bcast(root, sizeof root, 0);
    for (int i = 0; i < 3 && !s; i++)
        if (mine[i] != root[i])
            s = mv_fail(MV_ERR_ARG, "%s from rank 0's (hash %016llx, rank 0 has %016llx): %s", what_differs[i],
                        (unsigned long long)mine[i], (unsigned long long)root[i], advice[i]);
    return mv_dist_agree(s);
}

mv_status mv_train_fresh(const mv_train_opts *o, mv_train_position *pos) {
    char path[1024];
    memset(pos, 0, sizeof *pos);
    pos->seed = (uint64_t)o->seed;
    pos->optimizer = MV_TRAIN_DEFAULT_OPTIMIZER;
    if (o->optimizer) MV_TRY(mv_optim_from_string(o->optimizer, &pos->optimizer));
    MV_TRY(mv_ckpt_path(path, sizeof path, o->out, ".safetensors"));
    if (!o->force && access(path, F_OK) == 0)
        return mv_fail(MV_ERR_ARG, "%s exists: pass --resume to continue that run or --force to start over", path);
    return mv_make_parent_dirs(path);
}

mv_status mv_train_resume(const mv_train_opts *o, mv_params *p, long step, mv_train_position *pos) {
    mv_train_state ts;
    MV_TRY(mv_ckpt_load_optim(o->out, p, &ts, step));
    free(ts.data_state);
    mv_optim_kind run_opt, want;
    char optim_path[1024];
    MV_TRY(mv_ckpt_path(optim_path, sizeof optim_path, o->out, ".optim.safetensors"));
    if (mv_optim_from_string(ts.optimizer, &run_opt))
        return mv_fail(MV_ERR_FORMAT, "%s: unknown optimizer '%s' in the metadata", optim_path, ts.optimizer);
    if (o->optimizer) {
        MV_TRY(mv_optim_from_string(o->optimizer, &want));
        if (want != run_opt)
            return mv_fail(MV_ERR_ARG, "%s: the run was trained with --optimizer %s; it cannot resume with %s "
                                       "(start a new run under another --out)", optim_path, ts.optimizer, o->optimizer);
    }
    if (o->have_seed && (uint64_t)o->seed != ts.seed)
        MV_WARN("--seed %d ignored: resuming the run of seed %llu", o->seed, (unsigned long long)ts.seed);
    pos->seed = ts.seed;
    pos->start = step;
    pos->optimizer = run_opt;
    pos->warmup_start = ts.warmup_start;
    return MV_OK;
}

mv_status mv_train_save(const mv_train_opts *o, const mv_params *p, const char *model, const char *variant,
                            const char *ae_hash, const mv_config *cfg, long step, const mv_train_position *pos) {
    mv_ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.model, sizeof meta.model, "%s", model);
    snprintf(meta.variant, sizeof meta.variant, "%s", variant);
    if (ae_hash) snprintf(meta.ae_hash, sizeof meta.ae_hash, "%s", ae_hash);
    meta.config = *cfg;
    meta.step = step;
    mv_train_state ts = {.step = step, .seed = pos->seed, .warmup_start = pos->warmup_start};
    snprintf(ts.optimizer, sizeof ts.optimizer, "%s", mv_optim_name(pos->optimizer));
    return mv_ckpt_save(o->out, p, &meta, &ts);
}

/* Combines the ranks' step: the loss, stats and gradients become means over the global batch weighted by
 * each rank's loss terms (weight), which is what one process computes for the whole batch up to
 * floating-point summation order. Adds the seconds of the gradient all-reduce to *reduce_s. */
static void reduce_step(const mv_train_loop_def *d, float *loss, double weight, double *reduce_s) {
    mv_params *p = d->params;
    double sums[2 + MV_TRAIN_MAX_STATS] = {weight, weight * *loss};
    for (int i = 0; i < d->nstats; i++) sums[2 + i] = weight * d->stats[i];
    mv_dist_allreduce_sum_f64(sums, 2 + d->nstats);
    *loss = (float)(sums[1] / sums[0]);
    for (int i = 0; i < d->nstats; i++) d->stats[i] = (float)(sums[2 + i] / sums[0]);
    float scale = (float)(weight / sums[0]), *g = p->grad;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < p->total; i++) g[i] *= scale;
    double t0 = mv_now();
    mv_dist_allreduce_sum_f32(g, p->total);
    *reduce_s += mv_now() - t0;
}

/* At a checkpoint with several ranks: rank 0's weights are the run's. Every rank compares its own with
 * them (a hash); if any differs (an all-reduce that was not bit-identical on every rank, e.g. ranks with
 * different thread counts), every rank takes rank 0's weights and optimizer moments, with a warning. */
static void sync_weights(mv_params *p, long done) {
    uint64_t mine = state_hash(p, NULL, 0), root = mine;
    mv_dist_bcast(&root, sizeof root, 0);
    double differs = mine != root;
    mv_dist_allreduce_sum_f64(&differs, 1);
    if (differs == 0) return;
    MV_WARN("step %ld: the weights of %.0f rank(s) drifted from rank 0's (reductions not bit-identical on every "
            "rank): continuing from rank 0's", done, differs);
    float *bufs[3] = {p->data, p->m, p->v};
    for (int i = 0; i < 3; i++) mv_dist_bcast(bufs[i], p->total * sizeof(float), 0);
}

mv_status mv_train_loop(const mv_train_opts *o, const mv_train_loop_def *d) {
    mv_params *p = d->params;
    long start = d->pos.start;
    int root = mv_dist_rank() == 0, ranks = mv_dist_size();
    FILE *log = NULL;
    mv_optimizer opt;
    MV_ASSERT(d->nstats >= 0 && d->nstats <= MV_TRAIN_MAX_STATS);
    mv_status s = mv_optimizer_init(&opt, p, d->pos.optimizer);
    if (!s && root) s = mv_ckpt_log_open(&log, o->out, o->resume ? start : -1);
    if ((s = mv_dist_agree(s))) goto done;
    MV_INFO("optimizer %s, lr %g (warm-up %d steps from step %ld), weight decay %g", mv_optim_name(d->pos.optimizer),
            d->lr, d->warmup, d->pos.warmup_start, d->weight_decay);
    /* The first all-reduce of a buffer sets up its transfer (~0.4 s for 30 MB here): done once on the
     * zeroed gradients, so that the step times and the all-reduce time below are those of every step. */
    if (ranks > 1) {
        mv_params_zero_grad(p);
        mv_dist_allreduce_sum_f32(p->grad, p->total);
    }
    mv_train_progress prog = {.start = start, .done = start, .steps = o->steps};
    if (root && d->progress) d->progress(d->user, &prog);
    double t0 = mv_now(), ema = 0, wait_s = 0, reduce_s = 0;
    for (long step = start; step < o->steps; step++) {
        float loss = 0;
        double weight = 1;
        mv_params_zero_grad(p);
        s = d->step(d->user, step, &loss, &weight);
        if (!s && !isfinite(loss))
            s = mv_fail(MV_ERR_INTERNAL, "loss became %g at step %ld (try a lower --lr)", loss, step + 1);
        mv_test_kill_point("train-step");
        double w0 = mv_now();
        if ((s = mv_dist_agree(s))) goto done;
        wait_s += mv_now() - w0;
        if (ranks > 1) reduce_step(d, &loss, weight, &reduce_s);
        float lr = lr_warmup((float)d->lr, step - d->pos.warmup_start, d->warmup);
        mv_optimizer_step(&opt, p, lr, (float)d->weight_decay, step + 1 - d->pos.warmup_start);
        long done = step + 1;
        int log_now = done % o->log_every == 0 || done == o->steps;
        int save_now = done % d->ckpt_every == 0 || done == o->steps;
        if (save_now && ranks > 1) sync_weights(p, done);
        if (root && log_now) {
            char line[512];
            d->log_line(d->user, line, sizeof line, done, loss, lr);
            s = mv_ckpt_log_write(log, line);
        }
        if (root && save_now && !s) s = d->save(d->user, done);
        if ((log_now || save_now) && (s = mv_dist_agree(s))) goto done;
        if (!root) continue;
        ema = step == start ? loss : 0.95 * ema + 0.05 * loss;
        prog.done = done, prog.loss = loss, prog.ema = ema, prog.seconds = mv_now() - t0;
        if (d->progress) d->progress(d->user, &prog);
    }
    if (ranks > 1)
        MV_INFO("%d ranks: gradient all-reduce %.2f s (%.1f MB per step, %.1f%% of %.1f s), waiting for the slowest "
                "rank %.2f s", ranks, reduce_s, p->total * 4e-6, 100 * reduce_s / (mv_now() - t0), mv_now() - t0,
                wait_s);
done:
    if (log) fclose(log);
    mv_optimizer_free(&opt);
    return s;
}
