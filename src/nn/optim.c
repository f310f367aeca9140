/* AdamW (PyTorch semantics), Muon, the run's optimizer, warm-up learning rate, gradient clipping. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "core/gemm.h"
#include "nn/nn.h"
#include "nn/nn_internal.h"
#include "nn/optim.h"

void adamw_update(float *param, const float *grad, float *m, float *v, size_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, long step) {
    /* torch.optim.AdamW (non-capturable, foreach or single tensor):
     * p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
     * p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps). */
    double bc1 = 1.0 - pow(beta1, (double)step), bc2 = 1.0 - pow(beta2, (double)step);
    float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    float decay = 1.0f - lr * weight_decay;
#pragma omp parallel for schedule(static) if (n >= NN_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float g = grad[i];
        float p = param[i] * decay;
        float mi = beta1 * m[i] + (1.0f - beta1) * g;
        float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        param[i] = p - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
    }
}

float lr_warmup(float lr, long step, long warmup) {
    if (warmup <= 0 || step >= warmup) return lr;
    if (step <= 0) return 0.0f;
    return (float)((double)lr * (double)step / (double)warmup);
}

float clip_grad_norm(float *grad, size_t n, float max_norm) {
    enum { CHUNKS = 64 };
    double part[CHUNKS] = {0}, sq = 0;
#pragma omp parallel for schedule(static) if (n >= NN_PAR_MIN)
    for (int k = 0; k < CHUNKS; k++) {
        size_t i0 = n * k / CHUNKS, i1 = n * (k + 1) / CHUNKS;
        double s = 0;
        for (size_t i = i0; i < i1; i++) s += (double)grad[i] * grad[i];
        part[k] = s;
    }
    for (int k = 0; k < CHUNKS; k++) sq += part[k];
    float norm = (float)sqrt(sq);
    if (max_norm > 0 && norm > max_norm) {
        float coef = max_norm / (norm + 1e-6f);
#pragma omp parallel for schedule(static) if (n >= NN_PAR_MIN)
        for (size_t i = 0; i < n; i++) grad[i] *= coef;
    }
    return norm;
}

/* ------------------------------------------------------------------ Muon + the run's optimizer */

const char *mv_optim_name(mv_optim_kind k) { return k == MV_OPTIM_MUON ? "muon" : "adamw"; }

mv_status mv_optim_from_string(const char *s, mv_optim_kind *out) {
    if (s && !strcmp(s, "adamw")) *out = MV_OPTIM_ADAMW;
    else if (s && !strcmp(s, "muon")) *out = MV_OPTIM_MUON;
    else return mv_fail(MV_ERR_ARG, "unknown optimizer '%s' (expected muon or adamw)", s ? s : "");
    return MV_OK;
}

int mv_optim_is_muon_tensor(const mv_param_info *info) {
    static const char tail[] = "embedding.weight";
    size_t n = strlen(info->name), t = sizeof tail - 1;
    if (info->ndim != 2) return 0;
    return !(n >= t && !strcmp(info->name + n - t, tail));
}

size_t muon_work_floats(int rows, int cols) {
    size_t m = (size_t)(rows < cols ? rows : cols);
    return 2 * (size_t)rows * cols + 2 * m * m;
}

static void scale_into(float *dst, const float *a, float ka, const float *b, float kb, size_t n) {
#pragma omp parallel for schedule(static) if (n >= NN_PAR_MIN)
    for (size_t i = 0; i < n; i++) dst[i] = ka * a[i] + kb * b[i];
}

void muon_update(float *w, const float *g, float *mom, int rows, int cols, float lr, float momentum,
                 int ns_steps, float weight_decay, float *work) {
    const float a = 3.4445f, b = -4.7750f, c = 2.0315f;
    size_t n = (size_t)rows * cols;
    int wide = rows <= cols, m = wide ? rows : cols; /* X X^T is [m, m], the smaller side */
    float *X = work, *Y = X + n, *S = Y + n, *SS = S + (size_t)m * m;
    /* Nesterov momentum in torch's lerp form: mom = lerp(mom, g, 1 - mu); X = lerp(g, mom, mu). */
    double sq = 0;
#pragma omp parallel for schedule(static) reduction(+ : sq) if (n >= NN_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float mi = mom[i] + (1.0f - momentum) * (g[i] - mom[i]);
        mom[i] = mi;
        float u = mi - (mi - g[i]) * (1.0f - momentum);
        X[i] = u;
        sq += (double)u * u;
    }
    float norm = (float)sqrt(sq), inv = 1.0f / (norm > 1e-7f ? norm : 1e-7f);
#pragma omp parallel for schedule(static) if (n >= NN_PAR_MIN)
    for (size_t i = 0; i < n; i++) X[i] *= inv;
    for (int it = 0; it < ns_steps; it++) {
        if (wide) /* S = X X^T, X [m, cols] */
            mv_gemm_mixed(0, 1, m, m, cols, 1.0f, X, cols, X, cols, 0.0f, S, m);
        else      /* S = X^T X, X [rows, m] */
            mv_gemm_mixed(1, 0, m, m, rows, 1.0f, X, m, X, m, 0.0f, S, m);
        mv_gemm_mixed(0, 0, m, m, m, 1.0f, S, m, S, m, 0.0f, SS, m);
        scale_into(SS, S, b, SS, c, (size_t)m * m); /* B = b S + c S S */
        if (wide) /* Y = B X */
            mv_gemm_mixed(0, 0, m, cols, m, 1.0f, SS, m, X, cols, 0.0f, Y, cols);
        else      /* Y = X B^T: the transposed problem's B X, transposed back */
            mv_gemm_mixed(0, 1, rows, m, m, 1.0f, X, m, SS, m, 0.0f, Y, m);
        scale_into(X, X, a, Y, 1.0f, n);
    }
    /* match_rms_adamw: the orthogonalised update scaled to AdamW's typical RMS. */
    float adj = lr * 0.2f * sqrtf((float)(rows > cols ? rows : cols)), decay = 1.0f - lr * weight_decay;
#pragma omp parallel for schedule(static) if (n >= NN_PAR_MIN)
    for (size_t i = 0; i < n; i++) w[i] = w[i] * decay - adj * X[i];
}

/* ---- Muon in bf16 on a group of same-shape tensors ----
 * Work layout for a group of cnt tensors [rows, cols], n = rows * cols, m = min(rows, cols):
 * X [cnt, n] fp32, S and SS [cnt, m, m] fp32, then bf16 Xb [cnt, n], Sb and Bb [cnt, m, m]. */

static size_t group_work_floats(int cnt, int rows, int cols) {
    size_t n = (size_t)rows * cols, m = (size_t)(rows < cols ? rows : cols), mm = m * m;
    return (size_t)cnt * (n + 2 * mm) + ((size_t)cnt * (n + 2 * mm) + 1) / 2 + 16;
}

/* out[i] = bf16(x[i]) for n values. */
static void round_bf16(uint16_t *out, const float *x, size_t n) {
#pragma omp parallel for schedule(static) if (n >= NN_PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = mv_bf16_round(x[i]);
}

/* Whether the group's three products have optimised bf16 kernels (and every dimension >= 32, the
 * same rule as mv_gemm_mixed, so a tensor takes bf16 exactly when muon_update would). */
static int group_bf16_ok(const mv_muon_group *g) {
    int rows = g->rows, cols = g->cols, wide = rows <= cols, m = wide ? rows : cols;
    int64_t n = (int64_t)rows * cols, mm = (int64_t)m * m, cnt = g->count;
    if (mv_get_matmul_precision() != MV_MATMUL_BF16 || rows < 32 || cols < 32) return 0;
    int64_t sq[4] = {mm, mm, m, 1}, sqt[4] = {mm, mm, 1, m}, sx[4] = {n, n, wide ? cols : m, 1},
            sxt[4] = {n, n, 1, wide ? cols : m};
    if (wide)
        return mv_gemm_bf16_batched_beta(cnt, 1, m, m, cols, NULL, sx, NULL, sxt, NULL, sq, 0.0f) &&
               mv_gemm_bf16_batched_beta(cnt, 1, m, m, m, NULL, sq, NULL, sq, NULL, sq, 0.0f) &&
               mv_gemm_bf16_batched_beta(cnt, 1, m, cols, m, NULL, sq, NULL, sx, NULL, sx, 3.4445f);
    return mv_gemm_bf16_batched_beta(cnt, 1, m, m, rows, NULL, sxt, NULL, sx, NULL, sq, 0.0f) &&
           mv_gemm_bf16_batched_beta(cnt, 1, m, m, m, NULL, sq, NULL, sq, NULL, sq, 0.0f) &&
           mv_gemm_bf16_batched_beta(cnt, 1, rows, m, m, NULL, sx, NULL, sqt, NULL, sx, 3.4445f);
}

/* muon_update on every tensor of g at once, the products on bf16 operands with fp32 sums: per
 * iteration S = X X^T (X^T X when tall), SS = S S, B = b S + c SS, X = a X + B X (X B^T when tall),
 * the last product accumulating into X through oneDNN's scaled sum. */
static void muon_group_bf16(const mv_optimizer *o, mv_params *p, const mv_muon_group *g, float lr,
                            float weight_decay) {
    const float a = 3.4445f, b = -4.7750f, c = 2.0315f, mu = o->momentum;
    int rows = g->rows, cols = g->cols, cnt = g->count, wide = rows <= cols, m = wide ? rows : cols;
    size_t n = (size_t)rows * cols, mm = (size_t)m * m, N = (size_t)cnt * n, NM = (size_t)cnt * mm;
    float *X = o->work, *S = X + N, *SS = S + NM;
    uint16_t *Xb = (uint16_t *)(SS + NM), *Sb = Xb + N, *Bb = Sb + NM;
    /* Nesterov momentum (torch's lerp form, as muon_update) and each tensor's Frobenius norm */
    for (int j = 0; j < cnt; j++) {
        const mv_param_info *t = &p->info[g->tensors[j]];
        float *mom = p->m + t->offset, *xj = X + (size_t)j * n;
        const float *gr = p->grad + t->offset;
        double sq = 0;
#pragma omp parallel for schedule(static) reduction(+ : sq) if (n >= NN_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float mi = mom[i] + (1.0f - mu) * (gr[i] - mom[i]);
            mom[i] = mi;
            float u = mi - (mi - gr[i]) * (1.0f - mu);
            xj[i] = u;
            sq += (double)u * u;
        }
        float norm = (float)sqrt(sq), inv = 1.0f / (norm > 1e-7f ? norm : 1e-7f);
#pragma omp parallel for schedule(static) if (n >= NN_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            xj[i] *= inv;
            Xb[(size_t)j * n + i] = mv_bf16_round(xj[i]);
        }
    }
    int64_t sq[4] = {(int64_t)mm, (int64_t)mm, m, 1}, sqt[4] = {(int64_t)mm, (int64_t)mm, 1, m};
    int64_t sx[4] = {(int64_t)n, (int64_t)n, wide ? cols : m, 1}, sxt[4] = {(int64_t)n, (int64_t)n, 1, wide ? cols : m};
    for (int it = 0; it < o->ns_steps; it++) {
        if (wide) /* S = X X^T, X [m, cols] */
            MV_ASSERT(mv_gemm_bf16_batched_beta(cnt, 1, m, m, cols, Xb, sx, Xb, sxt, S, sq, 0.0f));
        else      /* S = X^T X, X [rows, m] */
            MV_ASSERT(mv_gemm_bf16_batched_beta(cnt, 1, m, m, rows, Xb, sxt, Xb, sx, S, sq, 0.0f));
        round_bf16(Sb, S, NM);
        MV_ASSERT(mv_gemm_bf16_batched_beta(cnt, 1, m, m, m, Sb, sq, Sb, sq, SS, sq, 0.0f));
#pragma omp parallel for schedule(static) if (NM >= NN_PAR_MIN)
        for (size_t i = 0; i < NM; i++) Bb[i] = mv_bf16_round(b * S[i] + c * SS[i]);
        if (wide) /* X = a X + B X */
            MV_ASSERT(mv_gemm_bf16_batched_beta(cnt, 1, m, cols, m, Bb, sq, Xb, sx, X, sx, a));
        else      /* X = a X + X B^T: the transposed problem's update, transposed back */
            MV_ASSERT(mv_gemm_bf16_batched_beta(cnt, 1, rows, m, m, Xb, sx, Bb, sqt, X, sx, a));
        if (it + 1 < o->ns_steps) round_bf16(Xb, X, N);
    }
    /* match_rms_adamw, as muon_update */
    float adj = lr * 0.2f * sqrtf((float)(rows > cols ? rows : cols)), decay = 1.0f - lr * weight_decay;
    for (int j = 0; j < cnt; j++) {
        float *w = p->data + p->info[g->tensors[j]].offset;
        const float *xj = X + (size_t)j * n;
#pragma omp parallel for schedule(static) if (n >= NN_PAR_MIN)
        for (size_t i = 0; i < n; i++) w[i] = w[i] * decay - adj * xj[i];
    }
}

/* The Muon tensors of p grouped by shape (first-seen order) into o->groups. */
static mv_status muon_groups_make(mv_optimizer *o, const mv_params *p) {
    int nm = 0;
    for (int i = 0; i < p->count; i++) nm += mv_optim_is_muon_tensor(&p->info[i]);
    if (!nm) return MV_OK;
    o->groups = calloc((size_t)nm, sizeof *o->groups);
    o->group_tensors = malloc((size_t)nm * sizeof(int));
    if (!o->groups || !o->group_tensors) return mv_fail(MV_ERR_NOMEM, "optimizer: out of memory");
    int used = 0;
    for (int i = 0; i < p->count; i++) {
        const mv_param_info *t = &p->info[i];
        if (!mv_optim_is_muon_tensor(t)) continue;
        int r = (int)t->shape[0], c = (int)t->shape[1], k = 0;
        while (k < o->ngroups && !(o->groups[k].rows == r && o->groups[k].cols == c)) k++;
        if (k == o->ngroups) o->groups[o->ngroups++] = (mv_muon_group){r, c, 0, NULL};
        o->groups[k].count++;
    }
    for (int k = 0; k < o->ngroups; k++) {
        o->groups[k].tensors = o->group_tensors + used;
        used += o->groups[k].count;
        o->groups[k].count = 0;
    }
    for (int i = 0; i < p->count; i++) {
        const mv_param_info *t = &p->info[i];
        if (!mv_optim_is_muon_tensor(t)) continue;
        for (int k = 0; k < o->ngroups; k++) {
            mv_muon_group *g = &o->groups[k];
            if (g->rows == t->shape[0] && g->cols == t->shape[1]) {
                g->tensors[g->count++] = i;
                break;
            }
        }
    }
    return MV_OK;
}

mv_status mv_optimizer_init(mv_optimizer *o, const mv_params *p, mv_optim_kind kind) {
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->beta1 = 0.9f, o->beta2 = 0.999f, o->eps = 1e-8f;
    o->momentum = 0.95f, o->ns_steps = 5;
    if (!p->grad || !p->m || !p->v) return mv_fail(MV_ERR_ARG, "optimizer: parameters have no training state");
    if (kind != MV_OPTIM_MUON) return MV_OK;
    mv_status s = muon_groups_make(o, p);
    if (s) {
        mv_optimizer_free(o);
        return s;
    }
    size_t need = 0;
    for (int k = 0; k < o->ngroups; k++) {
        const mv_muon_group *g = &o->groups[k];
        size_t w = muon_work_floats(g->rows, g->cols), wg = group_work_floats(g->count, g->rows, g->cols);
        need = MV_MAX(need, MV_MAX(w, wg));
    }
    if (need && !(o->work = mv_alloc(need * sizeof(float)))) {
        mv_optimizer_free(o);
        return mv_fail(MV_ERR_NOMEM, "optimizer: out of memory for Muon scratch (%zu MB)", need * 4 >> 20);
    }
    return MV_OK;
}

void mv_optimizer_free(mv_optimizer *o) {
    mv_free(o->work);
    free(o->groups);
    free(o->group_tensors);
    o->work = NULL;
    o->groups = NULL;
    o->group_tensors = NULL;
    o->ngroups = 0;
}

void mv_optimizer_step(mv_optimizer *o, mv_params *p, float lr, float weight_decay, long step) {
    if (o->kind == MV_OPTIM_ADAMW) {
        adamw_update(p->data, p->grad, p->m, p->v, p->total, lr, o->beta1, o->beta2, o->eps, weight_decay, step);
        return;
    }
    for (int i = 0; i < p->count; i++) {
        const mv_param_info *t = &p->info[i];
        size_t off = t->offset;
        if (!mv_optim_is_muon_tensor(t))
            adamw_update(p->data + off, p->grad + off, p->m + off, p->v + off, t->numel, lr, o->beta1, o->beta2,
                         o->eps, weight_decay, step);
    }
    for (int k = 0; k < o->ngroups; k++) {
        const mv_muon_group *g = &o->groups[k];
        if (group_bf16_ok(g)) {
            muon_group_bf16(o, p, g, lr, weight_decay);
            continue;
        }
        for (int j = 0; j < g->count; j++) {
            const mv_param_info *t = &p->info[g->tensors[j]];
            muon_update(p->data + t->offset, p->grad + t->offset, p->m + t->offset, g->rows, g->cols, lr,
                        o->momentum, o->ns_steps, weight_decay, o->work);
        }
    }
}
