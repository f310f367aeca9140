/* Image quality metrics on RGB frames in [0,1] (or uint8 / 255).
 * PSNR: -10 log10(mean squared error over all 3*H*W values), peak 1.
 * SSIM: Gaussian window sigma 1.5 (truncate 3.5 -> 11 taps), K1 0.01, K2 0.03, data range 1,
 * sample covariance (N/(N-1)) and border crop exactly as scikit-image's structural_similarity(
 * gaussian_weights=True, sigma=1.5, use_sample_covariance=False? see metrics.c), averaged over channels. */
#ifndef MV_METRICS_H
#define MV_METRICS_H
#include <stdint.h>

double mv_psnr_u8(const uint8_t *a, const uint8_t *b, int h, int w);
double mv_ssim_u8(const uint8_t *a, const uint8_t *b, int h, int w);
double mv_psnr_f32(const float *a, const float *b, int h, int w); /* [h, w, 3], clipped to [0,1] */
double mv_ssim_f32(const float *a, const float *b, int h, int w);
#endif
