/* Image quality metrics on RGB frames, [h, w, 3] interleaved, values in [0,1] (float, clipped) or
 * uint8 / 255. Everything is accumulated in double.
 *
 * PSNR: -10 log10(MSE), MSE = mean of the squared difference over all 3*h*w values, peak 1.
 *       Identical frames give +INFINITY (MSE 0).
 *
 * SSIM: equal (to ~1e-12) to scikit-image 0.19
 *       structural_similarity(a, b, channel_axis=-1, data_range=1.0, gaussian_weights=True,
 *                             sigma=1.5, use_sample_covariance=False)
 *       on float64 inputs: per channel, local means / variances / covariance from a separable
 *       Gaussian window (sigma 1.5, truncate 3.5 -> radius 5, 11 taps, weights normalised to sum 1),
 *       population (not sample) covariance, K1 0.01, K2 0.03, C1 = 1e-4, C2 = 9e-4; the SSIM map
 *       is cropped by (11-1)/2 = 5 pixels on every side and averaged; the three channel means are
 *       averaged. scikit-image filters with scipy.ndimage mode 'reflect', but with radius 5 and a
 *       5-pixel crop no kept pixel ever reads a reflected one, so only interior pixels are computed.
 *       Frames smaller than 11x11 (where scikit-image raises an error) give NAN.
 *       NOTE: the official MilliVid code uses torchmetrics SSIM (torchmetrics >= 1.5): same window and
 *       constants, but reflect-padded by 5 px and averaged over ALL h*w pixels with no crop, so its
 *       values differ slightly from ours near the borders (older torchmetrics cropped like us).
 *       We follow scikit-image. */
#ifndef MV_METRICS_H
#define MV_METRICS_H
#include <stdint.h>

double mv_psnr_u8(const uint8_t *a, const uint8_t *b, int h, int w);  /* a, b: [h, w, 3] */
double mv_ssim_u8(const uint8_t *a, const uint8_t *b, int h, int w);  /* a, b: [h, w, 3] */
double mv_psnr_f32(const float *a, const float *b, int h, int w); /* [h, w, 3], clipped to [0,1] */
double mv_ssim_f32(const float *a, const float *b, int h, int w); /* [h, w, 3], clipped to [0,1] */

/* PSNR and SSIM of n frame pairs, OpenMP over frames (call outside parallel regions).
 * psnr, ssim: [n] (either may be NULL); a, b: [n, h, w, 3]. */
void mv_metrics_u8_frames(double *psnr, double *ssim, const uint8_t *a, const uint8_t *b, long n, int h,
                          int w);
#endif
