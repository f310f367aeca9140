/* Video DiT speed at the mini shapes (D 256, depth 6, heads 4, C 16, 320 tokens per sample):
 *  1. training tokens/s (one AdamW step: forward, masked v loss, backward, update) at batch 8, and a
 *     320-token forward, next to the PyTorch twin (bench/torch_dit.py) run at the same thread count;
 *  2. DiT calls and tokens per step of a 256-frame rollout (128 context frames) for every method;
 *  3. the time of a 256-frame mini MilliVid rollout with a randomly initialised model: predicted from
 *     the measured per-call time (with and without dit.context_cache), or run for real with --rollout.
 * --paper builds the paper-size universal and FramePack DiTs (DiT-B) and times one inference forward of
 * a full step (3840 tokens) each instead.
 * Usage (from the repository root): dit_bench [--threads N] [--reps R] [--no-torch] [--rollout]
 *        [--cache] [--frames F] [--paper] [--bf16] [--peak GFLOPS]
 * --bf16: matmuls (linear layers and attention) with bf16 operands (core/gemm.h
 * mv_set_matmul_precision). The training line also gives the step's FLOPs per token (matmuls only,
 * backward = 2x forward) and the achieved fraction of --peak (default 1060 GFLOP/s: 2 cores of this
 * machine's vdpbf16ps, the figure; give the fp32 peak when comparing fp32 runs). */
#include "benchutil.h"
#include "io/config.h"
#include "core/core.h"
#include "core/gemm.h"
#include "core/rng.h"
#include "models/dit.h"
#include "nn/nn.h"
#include "nn/optim.h"
#include "rollout/diffusion.h"
#include "rollout/rollout.h"
#include "rollout/schedule.h"

#define T_SEQ 320
#define CONTEXT 128

typedef struct {
    mv_dit *m;
    mv_dit_acts acts, acts1;
    mv_dit_workspace ws; /* inference workspace, one context cache */
    int B;
    int *frame, *level, *row, *col, *action;
    float *x, *t, *v, *target, *dv;
    uint8_t *ctx, *den;
    long step;
    mv_optimizer *opt;        /* the optimizer of train_step */
    double t_fwd, t_bwd, t_opt; /* seconds of the last train_step's forward, backward, update */
} bench_ctx;

/* One training step as the train command runs it: zero the gradients, forward, v loss, backward, and
 * the optimizer's update (b->opt: Muon or AdamW). */
static void train_step(void *c) {
    bench_ctx *b = c;
    mv_params *p = &b->m->params;
    mv_dit_tokens tk = {b->B, T_SEQ, b->frame, b->level, b->row, b->col, b->t, b->action, NULL, b->ctx};
    double t0 = mv_now();
    mv_params_zero_grad(p);
    MV_ASSERT(mv_dit_forward(b->m, &b->acts, b->v, b->x, &tk) == MV_OK);
    size_t n = (size_t)b->B * T_SEQ;
    memset(b->dv, 0, n * b->m->C * sizeof(float));
    mv_diff_v_loss(b->dv, b->v, b->target, b->den, (int)n, b->m->C, 1.0f);
    double t1 = mv_now();
    mv_dit_backward(b->m, &b->acts, b->dv);
    double t2 = mv_now();
    b->step++;
    mv_optimizer_step(b->opt, p, 1e-4f, 0.01f, b->step);
    double t3 = mv_now();
    b->t_fwd = t1 - t0, b->t_bwd = t2 - t1, b->t_opt = t3 - t2;
}

/* Best-of-reps train_step with optimizer kind; *fwd, *bwd, *opt: the parts of the best step; *cpu: the
 * least CPU seconds (all threads) of a step, a measure of the work that other processes on a shared
 * machine disturb less than the wall clock (with OMP_WAIT_POLICY=passive, which idles instead of spins). */
static double time_train(bench_ctx *b, mv_optim_kind kind, int reps, double *fwd, double *bwd, double *opt,
                         double *cpu) {
    mv_optimizer o;
    if (mv_optimizer_init(&o, &b->m->params, kind)) {
        fprintf(stderr, "dit_bench: %s\n", mv_last_error());
        return NAN;
    }
    b->opt = &o;
    train_step(b);
    double best = 1e30;
    *cpu = 1e30;
    for (int i = 0; i < reps; i++) {
        double t0 = mv_now(), c0 = bench_cpu_now();
        train_step(b);
        double t = mv_now() - t0;
        *cpu = fmin(*cpu, bench_cpu_now() - c0);
        if (t < best) best = t, *fwd = b->t_fwd, *bwd = b->t_bwd, *opt = b->t_opt;
    }
    mv_optimizer_free(&o);
    b->opt = NULL;
    return best;
}

/* The first sequence of the batch, with context mask ctx (or NULL). */
static mv_dit_tokens one_seq(const bench_ctx *b, const uint8_t *ctx) {
    return (mv_dit_tokens){1, T_SEQ, b->frame, b->level, b->row, b->col, b->t, b->action, NULL, ctx};
}

static void forward1(void *c) {
    bench_ctx *b = c;
    mv_dit_tokens tk = one_seq(b, b->ctx);
    MV_ASSERT(mv_dit_forward(b->m, &b->acts1, b->v, b->x, &tk) == MV_OK);
}

/* All 320 tokens (no context roles: no mask, no cache). */
static void forward_infer(void *c) {
    bench_ctx *b = c;
    mv_dit_tokens tk = one_seq(b, NULL);
    MV_ASSERT(mv_dit_infer(b->m, &b->ws, b->v, b->x, &tk) == MV_OK);
}

/* The 64 non-context tokens over the cached context (built by the first call). */
static void forward_cached(void *c) {
    bench_ctx *b = c;
    mv_dit_tokens tk = one_seq(b, b->ctx);
    MV_ASSERT(mv_dit_infer(b->m, &b->ws, b->v, b->x, &tk) == MV_OK);
}

/* The same with the cache dropped first: the context's keys/values, then the cached forward. */
static void cache_build(void *c) {
    bench_ctx *b = c;
    mv_dit_workspace_reset(&b->ws);
    forward_cached(c);
}

/* Runs the PyTorch twin; fills seconds per train step (Muon, AdamW) and per 320-token forward (or leaves 0). */
static void run_torch(int threads, int B, int reps, double *train_muon, double *train, double *fwd) {
    static const char *const names[3] = {"train_step_muon", "train_step", "forward320"};
    double sec[3] = {1e30, 1e30, 1e30};
    bench_torch("torch_dit.py", threads, B, reps, names, sec, 3);
    if (sec[0] < 1e30) *train_muon = sec[0];
    if (sec[1] < 1e30) *train = sec[1];
    if (sec[2] < 1e30) *fwd = sec[2];
}

/* Random tokens shaped like a MilliVid step (64 denoised level-0 tokens, 256 context tokens). */
static void fill_tokens(bench_ctx *b, mv_rng *r) {
    size_t n = (size_t)b->B * T_SEQ;
    int C = b->m->C;
    for (size_t i = 0; i < n; i++) {
        int k = (int)(i % T_SEQ), l = k < 256 ? k / 64 : 0, g = 8 >> l;
        b->level[i] = l;
        b->frame[i] = (int)mv_rng_below(r, 149);
        b->row[i] = (int)mv_rng_below(r, g), b->col[i] = (int)mv_rng_below(r, g);
        b->action[i] = (int)mv_rng_below(r, 3);
        b->ctx[i] = k < 256, b->den[i] = k >= 256;
        b->t[i] = k < 256 ? 0.0f : 0.5f;
    }
    mv_rng_normal(r, b->x, n * C);
    mv_rng_normal(r, b->target, n * C);
}

/* Matmul FLOPs per token of one training step of m on T-token sequences: 3x the forward (backward =
 * 2x forward, the recomputed attention scores not counted): per block the q, k, v, proj, fc1, fc2
 * linears (24 D^2) and the score and value products (4 T D), plus patchify and the output linear.
 * The adaLN Linear runs once per distinct condition (a handful per sequence), not per token, and is
 * left out; *per_token_adaln gets the count with it run on every token (12 D^2 per block forward of
 * the 6D-wide modulation, as PyTorch's twin does). */
static double train_flops_per_token(const mv_dit *m, int T, double *per_token_adaln) {
    double D = m->D, fwd = m->depth * (24 * D * D + 4.0 * T * D) + 4.0 * m->C * D;
    if (per_token_adaln) *per_token_adaln = 3 * (fwd + m->depth * 12 * D * D + 4 * D * D);
    return 3 * fwd;
}

/* Matmul FLOPs of one Muon update of p: per 2-D weight [r, c] (m = min, k = max side) and Newton-Schulz
 * iteration the Gram matrix (2 m m k), its square (2 m^3) and the product with X (2 m m k). */
static double muon_flops_per_step(const mv_params *p) {
    double fl = 0;
    for (int i = 0; i < p->count; i++)
        if (mv_optim_is_muon_tensor(&p->info[i])) {
            double r = (double)p->info[i].shape[0], c = (double)p->info[i].shape[1];
            double m = r < c ? r : c, k = r < c ? c : r;
            fl += 5 * (4 * m * m * k + 2 * m * m * m);
        }
    return fl;
}

static void print_methods(const mv_config *cfg, int frames) {
    const mv_method ms[] = {MV_METHOD_MILLIVID, MV_METHOD_FRAMEPACK, MV_METHOD_FULLRES};
    printf("\n%d-frame rollout after %d context frames, %d sampler steps (guidance 1):\n", frames - CONTEXT, CONTEXT,
           cfg->sample_steps);
    printf("  %-10s %8s %8s %10s %12s %14s\n", "method", "chunks", "steps", "DiT calls", "tokens/step", "tokens total");
    for (size_t i = 0; i < MV_ARRAY_LEN(ms); i++) {
        mv_schedule s;
        int cs0, nch, limit;
        if (mv_schedule_build(&s, ms[i], cfg) || mv_rollout_chunks(&s, CONTEXT, frames, &cs0, &nch, &limit)) {
            printf("  %-10s error: %s\n", mv_method_name(ms[i]), mv_last_error());
            mv_schedule_free(&s);
            continue;
        }
        long steps = (long)nch * s.nsteps, calls = steps * cfg->sample_steps;
        printf("  %-10s %8d %8ld %10ld %12d %14ld\n", mv_method_name(ms[i]), nch, steps, calls, s.tokens_per_step_max,
               calls * s.tokens_per_step_max);
        mv_schedule_free(&s);
    }
}

static mv_status null_ctx(void *u, int f, int l, float *dst) {
    const mv_dit *m = u;
    int g = m->grid0 >> l;
    for (int i = 0; i < g * g * m->C; i++) dst[i] = 0.5f * sinf(0.1f * f + i);
    return MV_OK;
}
static mv_status null_frame(void *u, int f, const float *lat) { return MV_OK; }
static void prog(void *u, long done, long total) {
    fprintf(stderr, "\r  rollout step %ld / %ld", done, total);
}

static void real_rollout(mv_config cfg, int cache, int frames, int threads) {
    cfg.context_cache = cache;
    mv_dit m;
    mv_schedule s;
    if (mv_dit_create(&m, &cfg, MV_DIT_UNIVERSAL, 0) || mv_schedule_build(&s, MV_METHOD_MILLIVID, &cfg)) {
        fprintf(stderr, "dit_bench: %s\n", mv_last_error());
        return;
    }
    mv_dit_init_weights(&m, 1);
    int *act = malloc(frames * sizeof(int));
    for (int f = 0; f < frames; f++) act[f] = (f / 9) % 3;
    mv_rollout_params p;
    mv_rollout_params_init(&p);
    p.context = CONTEXT, p.frames = frames, p.sample_steps = cfg.sample_steps, p.actions = act;
    p.context_fn = null_ctx, p.context_user = &m, p.frame_fn = null_frame, p.progress_fn = prog;
    mv_rollout_stats st;
    mv_status rc = mv_rollout_run(&m, &s, &p, &st);
    fprintf(stderr, "\n");
    if (rc) fprintf(stderr, "dit_bench: rollout: %s\n", mv_last_error());
    else
        printf("measured: %d-frame MilliVid rollout (context_cache=%d, %d threads): %.1f s (%ld DiT calls, %.1f ms "
               "each, store %.1f MB)\n", frames - CONTEXT, cache, threads, st.seconds, st.dit_calls,
               1e3 * st.seconds / st.dit_calls, st.store_bytes / 1e6);
    free(act);
    mv_dit_free(&m);
    mv_schedule_free(&s);
}

/* One inference forward of a full paper-size step for both model kinds. */
static int paper_forward(void) {
    mv_config cfg;
    if (mv_config_load(&cfg, "paper")) return fprintf(stderr, "dit_bench: %s\n", mv_last_error()), 1;
    for (int kind = 0; kind < 2; kind++) {
        mv_dit m;
        mv_schedule s;
        if (mv_dit_create(&m, &cfg, (mv_dit_kind)kind, 0) ||
            mv_schedule_build(&s, kind ? MV_METHOD_FRAMEPACK : MV_METHOD_MILLIVID, &cfg))
            return fprintf(stderr, "dit_bench: %s\n", mv_last_error()), 1;
        mv_dit_init_weights(&m, 1);
        int T = kind ? m.fp_tokens : s.tokens_per_step_max, C = m.C, F = m.fp_frames, T0 = m.grid0 * m.grid0;
        size_t nx = kind ? (size_t)F * T0 : (size_t)T;
        float *x = calloc(nx * C, 4), *v = calloc(nx * C, 4), *t = calloc(nx, 4);
        int *meta = calloc((size_t)5 * nx, sizeof(int));
        mv_dit_workspace work;
        if (mv_dit_workspace_create(&work, &m, 1, T, 1)) return fprintf(stderr, "dit_bench: %s\n", mv_last_error()), 1;
        mv_cell *cells = malloc((size_t)s.levels * s.N * sizeof(mv_cell));
        double t0 = mv_now();
        mv_status rc;
        if (kind) {
            mv_dit_tokens tk = {1, F * T0, NULL, NULL, NULL, NULL, t, meta, NULL, NULL};
            rc = mv_dit_infer(&m, &work, v, x, &tk);
        } else { /* step 0 of the main MilliVid schedule */
            int nc = mv_step_cells(&s, 0, 0, cells, NULL, NULL), n = 0;
            int *fr = meta, *lv = fr + T, *rw = lv + T, *cl = rw + T, *ac = cl + T;
            for (int ci = 0; ci < nc; ci++) {
                int g = m.grid0 >> cells[ci].level;
                for (int i = 0; i < g * g; i++, n++)
                    fr[n] = cells[ci].frame, lv[n] = cells[ci].level, rw[n] = i / g, cl[n] = i % g, ac[n] = 0;
            }
            mv_dit_tokens tk = {1, T, fr, lv, rw, cl, t, ac, NULL, NULL};
            rc = mv_dit_infer(&m, &work, v, x, &tk);
        }
        if (rc) fprintf(stderr, "dit_bench: %s\n", mv_last_error());
        else
            printf("paper %s DiT (%zu parameters): one %d-token forward in %.1f s\n", mv_dit_kind_name(m.kind),
                   m.params.total, T, mv_now() - t0);
        free(x), free(v), free(t), free(meta), free(cells);
        mv_dit_workspace_free(&work);
        mv_dit_free(&m);
        mv_schedule_free(&s);
    }
    return 0;
}

int main(int argc, char **argv) {
    int threads = 2, reps = 3, torch = 1, rollout = 0, cache_only = 0, frames = CONTEXT + 256, paper = 0, batch = 0;
    int train_only = 0;
    double peak = 1060;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--frames") && i + 1 < argc) frames = CONTEXT + atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-torch")) torch = 0;
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--train-only")) train_only = 1;
        else if (!strcmp(argv[i], "--rollout")) rollout = 1;
        else if (!strcmp(argv[i], "--cache")) cache_only = 1;
        else if (!strcmp(argv[i], "--paper")) paper = 1;
        else if (!strcmp(argv[i], "--bf16")) mv_set_matmul_precision(MV_MATMUL_BF16);
        else if (!strcmp(argv[i], "--peak") && i + 1 < argc) peak = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: dit_bench [--threads N] [--reps R] [--no-torch] [--rollout] [--cache] [--frames F] "
                            "[--paper] [--bf16] [--peak GFLOPS] [--batch B] [--train-only]\n");
            return 2;
        }
    }
    mv_set_threads(threads);
    if (paper) return paper_forward();
    mv_config cfg;
    if (mv_config_load(&cfg, "mini")) {
        fprintf(stderr, "dit_bench: %s\n", mv_last_error());
        return 1;
    }
    if (rollout) {
        if (!cache_only) real_rollout(cfg, 0, frames, threads);
        real_rollout(cfg, 1, frames, threads);
        return 0;
    }
    int B = batch > 0 ? batch : cfg.dit_batch;
    cfg.context_cache = 1; /* needed for the cached forward; the train step below passes the mask too */
    mv_dit m;
    if (mv_dit_create(&m, &cfg, MV_DIT_UNIVERSAL, 1)) {
        fprintf(stderr, "dit_bench: %s\n", mv_last_error());
        return 1;
    }
    mv_dit_init_weights(&m, 1);
    mv_rng r;
    mv_rng_init(&r, 2);
    for (size_t i = 0; i < m.params.total; i++) m.params.data[i] += 0.01f * sinf((float)i); /* non-zero adaLN */
    bench_ctx b = {.m = &m, .B = B};
    size_t n = (size_t)B * T_SEQ;
    b.frame = malloc(n * 4), b.level = malloc(n * 4), b.row = malloc(n * 4), b.col = malloc(n * 4);
    b.action = malloc(n * 4), b.x = malloc(n * m.C * 4), b.t = malloc(n * 4), b.v = malloc(n * m.C * 4);
    b.target = malloc(n * m.C * 4), b.dv = malloc(n * m.C * 4), b.ctx = malloc(n), b.den = malloc(n);
    fill_tokens(&b, &r);
    if (mv_dit_acts_alloc(&b.acts, &m, B, T_SEQ) || mv_dit_acts_alloc(&b.acts1, &m, 1, T_SEQ) ||
        mv_dit_workspace_create(&b.ws, &m, 1, T_SEQ, 1)) {
        fprintf(stderr, "dit_bench: %s\n", mv_last_error());
        return 1;
    }
    printf("video DiT mini (D %d, depth %d, heads %d, C %d, %zu parameters), %d threads, %s matmuls\n", m.D,
           m.depth, m.heads, m.C, m.params.total, threads,
           mv_get_matmul_precision() == MV_MATMUL_BF16 ? "bf16" : "fp32");
    /* the train step uses the context mask only when context_cache is on: time the paper's unmasked
     * step (mask off) as the main number */
    uint8_t *ctx_saved = b.ctx;
    b.ctx = NULL;
    double pm[4], pa[4];
    double tr = time_train(&b, MV_OPTIM_MUON, reps, &pm[0], &pm[1], &pm[2], &pm[3]);
    double ta = time_train(&b, MV_OPTIM_ADAMW, reps, &pa[0], &pa[1], &pa[2], &pa[3]);
    double f1 = NAN, fi = NAN, cb = NAN, fc = NAN, cbf = NAN;
    if (!train_only) {
        f1 = bench_best_of(reps + 2, forward1, &b, NULL);
        m.context_cache = 0; /* the fast inference path is for models without the cache */
        fi = bench_best_of(reps + 2, forward_infer, &b, NULL);
        m.context_cache = 1;
        b.ctx = ctx_saved;
        cbf = bench_best_of(reps, cache_build, &b, NULL);
        fc = bench_best_of(reps + 2, forward_cached, &b, NULL);
        cb = MV_MAX(cbf - fc, 0.0);
    }
    double ttr = 0, tta = 0, tf1 = 0;
    int bf16 = mv_get_matmul_precision() == MV_MATMUL_BF16;
    if (bf16) setenv("MV_TORCH_AUTOCAST", "bf16", 1); /* PyTorch's bf16: CPU autocast */
    if (torch) run_torch(threads, B, reps, &ttr, &tta, &tf1);
    printf("\n%-40s %12s %12s %8s\n", "", "millivid C", bf16 ? "PyTorch bf16" : "PyTorch", "C/torch");
    char label[64];
    snprintf(label, sizeof label, "train tokens/s (batch %d x %d, Muon)", B, T_SEQ);
    printf("%-40s %12.0f %12.0f %7.2fx\n", label, n / tr, ttr > 0 ? n / ttr : NAN, ttr > 0 ? ttr / tr : NAN);
    snprintf(label, sizeof label, "train tokens/s (batch %d x %d, AdamW)", B, T_SEQ);
    printf("%-40s %12.0f %12.0f %7.2fx\n", label, n / ta, tta > 0 ? n / tta : NAN, tta > 0 ? tta / ta : NAN);
    printf("%-40s %5.0f/%4.0f/%4.0f %12s\n", "  Muon step: fwd/bwd/update ms", 1e3 * pm[0], 1e3 * pm[1], 1e3 * pm[2],
           "-");
    printf("%-40s %5.0f/%4.0f/%4.0f %12s\n", "  AdamW step: fwd/bwd/update ms", 1e3 * pa[0], 1e3 * pa[1],
           1e3 * pa[2], "-");
    printf("%-40s %6.0f/%5.0f %12s\n", "  train tokens per CPU-second Muon/AdamW", n / pm[3], n / pa[3], "-");
    printf("%-40s %12.2f %12.2f\n", "train steps/s (Muon)", 1 / tr, ttr > 0 ? 1 / ttr : NAN);
    double fl_adaln, fl = train_flops_per_token(&m, T_SEQ, &fl_adaln);
    printf("%-40s %12.1f %12.1f\n", "train GFLOP/s (Muon; matmul FLOPs, below)", fl * n / tr / 1e9,
           ttr > 0 ? fl * n / ttr / 1e9 : NAN);
    printf("%-40s %11.1f%% %11.1f%%\n", "fraction of the peak (--peak)", 100 * fl * n / tr / 1e9 / peak,
           ttr > 0 ? 100 * fl * n / ttr / 1e9 / peak : NAN);
    double fl_ns = muon_flops_per_step(&m.params);
    printf("%-40s %11.1f%% %11.1f%%\n", "  with Newton-Schulz FLOPs", 100 * (fl * n + fl_ns) / tr / 1e9 / peak,
           ttr > 0 ? 100 * (fl * n + fl_ns) / ttr / 1e9 / peak : NAN);
    printf("%-40s %12.1f %12.1f %7.2fx\n", "training forward 320 tokens, ms", 1e3 * f1, tf1 > 0 ? 1e3 * tf1 : NAN,
           tf1 > 0 ? tf1 / f1 : NAN);
    printf("%-40s %12.1f %12.1f %7.2fx\n", "inference forward 320 tokens, ms", 1e3 * fi, tf1 > 0 ? 1e3 * tf1 : NAN,
           tf1 > 0 ? tf1 / fi : NAN);
    printf("%-40s %12.1f %12s\n", "cached forward (64 of 320 tokens), ms", 1e3 * fc, "-");
    printf("%-40s %12.1f %12s\n", "context cache build (256 tokens), ms", 1e3 * cb, "-");
    printf("%-40s %12.1f %12s\n", "  (build + cached forward, measured), ms", 1e3 * cbf, "-");
    printf("(PyTorch's forward is torch.no_grad(); C/torch > 1 means millivid is faster)\n");
    printf("training step: %.1f MFLOP per token in matmuls (adaLN once per distinct condition; %.1f with it per "
           "token, as PyTorch runs it), peak %.0f GFLOP/s; Muon's Newton-Schulz: %.1f GFLOP per step\n", fl / 1e6,
           fl_adaln / 1e6, peak, fl_ns / 1e9);
    if (train_only) goto done;
    print_methods(&cfg, frames);
    mv_schedule s;
    int cs0, nch, limit;
    if (!mv_schedule_build(&s, MV_METHOD_MILLIVID, &cfg) && !mv_rollout_chunks(&s, CONTEXT, frames, &cs0, &nch, &limit)) {
        long steps = (long)nch * s.nsteps, calls = steps * cfg.sample_steps;
        printf("\npredicted %d-frame mini MilliVid rollout (random model, %d threads): %.0f s full forward, %.0f s with "
               "dit.context_cache=1 (run with --rollout to measure)\n", frames - CONTEXT, threads, calls * fi,
               calls * fc + steps * cb);
        mv_schedule_free(&s);
    }
done:
    mv_dit_workspace_free(&b.ws);
    mv_dit_acts_free(&b.acts);
    mv_dit_acts_free(&b.acts1);
    mv_dit_free(&m);
    return 0;
}
