/* AdamW (PyTorch semantics), warm-up learning rate, global gradient-norm clipping. */
#include <math.h>

#include "core/core.h"
#include "nn/nn.h"
#include "nn/nn_internal.h"

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
