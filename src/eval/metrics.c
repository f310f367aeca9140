/* PSNR and SSIM (scikit-image 0.19 conventions; see metrics.h for the exact definition). */
#include "eval/metrics.h"

#include <math.h>

#include "core/core.h"

#define SSIM_RADIUS 5 /* int(3.5 * 1.5 + 0.5): scipy's radius for truncate 3.5, sigma 1.5 */
#define SSIM_TAPS (2 * SSIM_RADIUS + 1)
#define SSIM_C1 1e-4 /* (0.01 * 1)^2 */
#define SSIM_C2 9e-4 /* (0.03 * 1)^2 */

static double clip01(float v) { return v < 0.0f ? 0.0 : v > 1.0f ? 1.0 : (double)v; }

static double psnr_from_mse(double mse) { return mse > 0.0 ? -10.0 * log10(mse) : INFINITY; }

double mv_psnr_u8(const uint8_t *a, const uint8_t *b, int h, int w) {
    size_t n = (size_t)h * w * 3;
    uint64_t sse = 0;
    for (size_t i = 0; i < n; i++) {
        int d = (int)a[i] - (int)b[i];
        sse += (uint64_t)(d * d);
    }
    return n ? psnr_from_mse((double)sse / (255.0 * 255.0) / (double)n) : NAN;
}

double mv_psnr_f32(const float *a, const float *b, int h, int w) {
    size_t n = (size_t)h * w * 3;
    double sse = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = clip01(a[i]) - clip01(b[i]);
        sse += d * d;
    }
    return n ? psnr_from_mse(sse / (double)n) : NAN;
}

/* Normalised Gaussian weights, as scipy.ndimage's 1-D kernel: exp(-x^2 / (2 sigma^2)) / sum. */
static void ssim_kernel(double k[SSIM_TAPS]) {
    double sum = 0.0;
    for (int i = 0; i < SSIM_TAPS; i++) {
        double x = i - SSIM_RADIUS;
        k[i] = exp(-0.5 / (1.5 * 1.5) * x * x);
        sum += k[i];
    }
    for (int i = 0; i < SSIM_TAPS; i++) k[i] /= sum;
}

/* Sum of the cropped SSIM map of one channel. x, y: [h, w]; col: [5, w] scratch. */
static double ssim_plane_sum(const double *x, const double *y, int h, int w, double *col) {
    double k[SSIM_TAPS], total = 0.0;
    ssim_kernel(k);
    for (int r = SSIM_RADIUS; r < h - SSIM_RADIUS; r++) {
        /* Vertical pass at row r for every column: the 5 weighted moments. */
        for (int j = 0; j < w; j++) {
            double mx = 0, my = 0, mxx = 0, myy = 0, mxy = 0;
            for (int t = 0; t < SSIM_TAPS; t++) {
                size_t i = (size_t)(r - SSIM_RADIUS + t) * w + j;
                double xv = x[i], yv = y[i];
                mx += k[t] * xv, my += k[t] * yv;
                mxx += k[t] * (xv * xv), myy += k[t] * (yv * yv), mxy += k[t] * (xv * yv);
            }
            col[j] = mx, col[w + j] = my, col[2 * w + j] = mxx, col[3 * w + j] = myy, col[4 * w + j] = mxy;
        }
        /* Horizontal pass on the kept columns, then the SSIM formula. */
        for (int j = SSIM_RADIUS; j < w - SSIM_RADIUS; j++) {
            double m[5] = {0, 0, 0, 0, 0};
            for (int q = 0; q < 5; q++)
                for (int t = 0; t < SSIM_TAPS; t++) m[q] += k[t] * col[q * w + j - SSIM_RADIUS + t];
            double ux = m[0], uy = m[1];
            double vx = m[2] - ux * ux, vy = m[3] - uy * uy, vxy = m[4] - ux * uy;
            double num = (2 * ux * uy + SSIM_C1) * (2 * vxy + SSIM_C2);
            double den = (ux * ux + uy * uy + SSIM_C1) * (vx + vy + SSIM_C2);
            total += num / den;
        }
    }
    return total;
}

/* SSIM of [h, w, 3] frames given as channel planes: planes [2, 3, h, w] (x then y). */
static double ssim_planes(const double *planes, int h, int w) {
    if (h < SSIM_TAPS || w < SSIM_TAPS) return NAN;
    double *col = malloc(sizeof(double) * 5 * (size_t)w);
    if (!col) return NAN;
    size_t hw = (size_t)h * w;
    double sum = 0.0;
    for (int c = 0; c < 3; c++) sum += ssim_plane_sum(planes + c * hw, planes + (3 + c) * hw, h, w, col);
    free(col);
    return sum / (3.0 * (double)(h - 2 * SSIM_RADIUS) * (double)(w - 2 * SSIM_RADIUS));
}

/* Pixel value k of an interleaved frame in [0, 1]: uint8 / 255 (u8) or float clipped. */
static double pixel01(const void *frame, size_t k, int u8) {
    return u8 ? ((const uint8_t *)frame)[k] / 255.0 : clip01(((const float *)frame)[k]);
}

/* SSIM of two frames a, b [h, w, 3], uint8 (u8) or float. */
static double ssim_frames(const void *a, const void *b, int h, int w, int u8) {
    if (h < SSIM_TAPS || w < SSIM_TAPS) return NAN;
    size_t hw = (size_t)h * w;
    double *planes = malloc(sizeof(double) * 6 * hw); /* [2, 3, h, w] */
    if (!planes) return NAN;
    for (size_t i = 0; i < hw; i++)
        for (int c = 0; c < 3; c++) {
            planes[c * hw + i] = pixel01(a, i * 3 + c, u8);
            planes[(3 + c) * hw + i] = pixel01(b, i * 3 + c, u8);
        }
    double s = ssim_planes(planes, h, w);
    free(planes);
    return s;
}

double mv_ssim_u8(const uint8_t *a, const uint8_t *b, int h, int w) { return ssim_frames(a, b, h, w, 1); }

double mv_ssim_f32(const float *a, const float *b, int h, int w) { return ssim_frames(a, b, h, w, 0); }

void mv_metrics_u8_frames(double *psnr, double *ssim, const uint8_t *a, const uint8_t *b, long n, int h,
                          int w) {
    size_t fr = (size_t)h * w * 3;
#pragma omp parallel for schedule(dynamic)
    for (long i = 0; i < n; i++) {
        if (psnr) psnr[i] = mv_psnr_u8(a + i * fr, b + i * fr, h, w);
        if (ssim) ssim[i] = mv_ssim_u8(a + i * fr, b + i * fr, h, w);
    }
}
