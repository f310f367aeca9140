/* The hierarchical autoencoder (OFFICIAL_MODULES.md §1). A frame becomes a pixel pyramid (2x2 average
 * pooling, L levels), every level is cut into P x P patches, and the T_pyr patches of all levels go
 * through one ViT encoder -> tanh latents [T_pyr, C]. The decoder (adaLN-Zero DiT conditioned on the
 * kept level) reads all pyramid positions with every other level's latents zeroed and outputs a pixel
 * patch at every position. Variant cascaded: coarse latents are detached 2x2 mean-pools of level 0.
 *
 * Token order: level 0 first, then 1 ... L-1, row-major inside a level. Patch vector (c, py, px).
 * Latents are token-major: a frame's latents are [T_pyr, C]; level l is rows [off_l, off_l + T_l). */
#ifndef MV_AUTOENCODER_H
#define MV_AUTOENCODER_H
#include <stdint.h>

#include "io/config.h"
#include "core/params.h"
#include "models/block.h"

typedef enum { MV_AE_ADAPTIVE = 0, MV_AE_CASCADED = 1 } mv_ae_variant;
const char *mv_ae_variant_name(mv_ae_variant v); /* "adaptive", "cascaded" */
mv_status mv_ae_variant_parse(const char *s, mv_ae_variant *v);

typedef struct {
    mv_config cfg;
    mv_ae_variant variant;
    int H, P, L, C, D, depth, heads;
    int T;                         /* T_pyr, tokens per frame over all levels */
    int PD;                        /* 3 P^2, values per patch */
    int tokens[MV_MAX_LEVELS];     /* T_l */
    int offset[MV_MAX_LEVELS];     /* first token of level l */
    int grid[MV_MAX_LEVELS];       /* h_l = w_l */
    int *tok_level, *tok_row, *tok_col; /* [T] */
    float *pos;                    /* [T, D] 2-D sin-cos positions */
    float *level_wt;               /* [T] loss weight 4^level */
    mv_params params;
    mv_block *enc, *dec;           /* [depth] each */
    int enc_level, enc_patch_w, enc_patch_b, enc_bot_w, enc_bot_b;
    int dec_level, dec_unpatch_w, dec_unpatch_b, dec_unbot_w, dec_unbot_b;
} mv_ae;

/* Builds the model for cfg (validated) and allocates its arena (with grads and AdamW moments when
 * with_training). Weights are zero until mv_ae_init_weights or mv_ae_load. */
mv_status mv_ae_create(mv_ae *ae, const mv_config *cfg, mv_ae_variant variant, int with_training);
void mv_ae_free(mv_ae *ae);
/* Official initialisation (§0): blocks Xavier / zero / adaLN zero, embeddings N(0,1), the outer
 * Linears PyTorch default U(+-1/sqrt(fan_in)). */
void mv_ae_init_weights(mv_ae *ae, uint64_t seed);
/* Opens an autoencoder checkpoint, builds the model from its stored config and variant and loads it.
 * Messages name the file and what was expected. */
mv_status mv_ae_load(mv_ae *ae, const char *path, int with_training);
/* A short stable hash of the weights (FNV-1a 64 over the F32 bytes of every tensor, hex). */
void mv_ae_hash(const mv_ae *ae, char out[17]);

/* Work buffers for batches of up to max_batch frames; training = keep activations for backward. */
typedef struct mv_ae_work mv_ae_work;
mv_status mv_ae_work_create(mv_ae_work **w, const mv_ae *ae, int max_batch, int training);
void mv_ae_work_free(mv_ae_work *w);
size_t mv_ae_work_bytes(const mv_ae *ae, int max_batch, int training);

/* Pixel pyramid patches of B frames (any B; w only lends an image buffer). frames: [B, H, W, 3]
 * uint8 (value / 255) or float in [0,1] for _f32; patches: [B, T, 3P^2]. */
void mv_ae_pyramid_u8(const mv_ae *ae, mv_ae_work *w, float *patches, const uint8_t *frames, int B);
void mv_ae_pyramid_f32(const mv_ae *ae, mv_ae_work *w, float *patches, const float *frames, int B);

/* Latents [B, T, C] of B frames given their pyramid patches [B, T, 3P^2]. */
void mv_ae_encode(const mv_ae *ae, mv_ae_work *w, float *lat, const float *patches, int B);
/* Decodes latents [B, T, C] at the kept level keep[b] (other levels are zeroed here):
 * out [B, T, 3P^2], the whole pyramid. */
void mv_ae_decode(const mv_ae *ae, mv_ae_work *w, float *out, const float *lat, const int *keep, int B);
/* Level-0 image [B, H, W, 3] (not clipped) from decoder output patches [B, T, 3P^2]. */
void mv_ae_image0(const mv_ae *ae, float *img, const float *out_patches, int B);

/* One training forward + backward (gradients ACCUMULATE into ae->params.grad; the caller zeroes).
 * Returns the loss of §1.5 without LPIPS; level_loss (may be NULL) gets the unweighted MSE of each
 * pyramid level [L]. w must have been created with training = 1. */
float mv_ae_train_step(mv_ae *ae, mv_ae_work *w, const float *patches, const int *keep, int B,
                       float *level_loss);
#endif
