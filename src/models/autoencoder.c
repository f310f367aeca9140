/* The hierarchical autoencoder: model, pyramid, encoder, decoder, one training step (see
 * autoencoder.h and OFFICIAL_MODULES.md §1). */
#include "models/autoencoder.h"

#include <math.h>
#include <omp.h>

#include "core/core.h"
#include "core/rng.h"
#include "models/checkpoint.h"
#include "nn/nn.h"

const char *mv_ae_variant_name(mv_ae_variant v) { return v == MV_AE_CASCADED ? "cascaded" : "adaptive"; }

mv_status mv_ae_variant_parse(const char *s, mv_ae_variant *v) {
    if (!strcmp(s, "adaptive")) *v = MV_AE_ADAPTIVE;
    else if (!strcmp(s, "cascaded")) *v = MV_AE_CASCADED;
    else return mv_fail(MV_ERR_ARG, "unknown autoencoder variant '%s' (expected adaptive or cascaded)", s);
    return MV_OK;
}

/* ---------------------------------------------------------------- model */

static mv_status add2(mv_params *p, const char *name, int64_t a, int64_t b, int *idx) {
    int64_t s[2] = {a, b};
    return mv_params_add(p, name, b ? 2 : 1, s, idx);
}

static mv_status register_part(mv_ae *ae, int dec) {
    mv_params *p = &ae->params;
    const char *part = dec ? "decoder" : "encoder";
    mv_block *blocks = dec ? ae->dec : ae->enc;
    char name[128];
    for (int i = 0; i < ae->depth; i++) {
        snprintf(name, sizeof name, "%s.transformer.blocks.%d.", part, i);
        MV_TRY(mv_block_register(&blocks[i], p, name, ae->D, ae->heads, dec));
        blocks[i].cond_per_sample = dec; /* the decoder's condition is one level embedding per frame */
    }
    snprintf(name, sizeof name, "%s.level_embedding.weight", part);
    MV_TRY(add2(p, name, ae->L, ae->D, dec ? &ae->dec_level : &ae->enc_level));
    if (!dec) {
        MV_TRY(add2(p, "encoder.patchify.weight", ae->D, ae->PD, &ae->enc_patch_w));
        MV_TRY(add2(p, "encoder.patchify.bias", ae->D, 0, &ae->enc_patch_b));
        MV_TRY(add2(p, "encoder.bottleneck.weight", ae->C, ae->D, &ae->enc_bot_w));
        MV_TRY(add2(p, "encoder.bottleneck.bias", ae->C, 0, &ae->enc_bot_b));
    } else {
        MV_TRY(add2(p, "decoder.unpatchify.weight", ae->PD, ae->D, &ae->dec_unpatch_w));
        MV_TRY(add2(p, "decoder.unpatchify.bias", ae->PD, 0, &ae->dec_unpatch_b));
        MV_TRY(add2(p, "decoder.unbottleneck.weight", ae->D, ae->C, &ae->dec_unbot_w));
        MV_TRY(add2(p, "decoder.unbottleneck.bias", ae->D, 0, &ae->dec_unbot_b));
    }
    return MV_OK;
}

/* The AE-relevant part of the configuration (the CLI validates the whole config). */
static mv_status check_shapes(const mv_config *c) {
    if (c->patch < 1 || c->latent_channels < 1 || c->ae_depth < 1 || c->ae_heads < 1 || c->ae_width < 4)
        return mv_fail(MV_ERR_ARG, "config: patch %d, latent_channels %d, ae.depth %d, ae.heads %d, ae.width %d "
                       "must all be positive", c->patch, c->latent_channels, c->ae_depth, c->ae_heads, c->ae_width);
    if (c->levels < 1 || c->levels > MV_MAX_LEVELS)
        return mv_fail(MV_ERR_ARG, "config 'levels' = %d must be in [1, %d]", c->levels, MV_MAX_LEVELS);
    int coarse = c->patch << (c->levels - 1);
    if (c->image_size % coarse)
        return mv_fail(MV_ERR_ARG, "config: image_size %d must be a multiple of patch * 2^(levels-1) = %d",
                       c->image_size, coarse);
    if (c->ae_width % c->ae_heads || c->ae_width % 4)
        return mv_fail(MV_ERR_ARG, "config: ae.width %d must be a multiple of 4 and of ae.heads %d",
                       c->ae_width, c->ae_heads);
    return MV_OK;
}

static mv_status build_tables(mv_ae *ae) {
    ae->tok_level = malloc(3 * (size_t)ae->T * sizeof(int));
    ae->pos = mv_alloc((size_t)ae->T * ae->D * sizeof(float));
    ae->level_wt = malloc((size_t)ae->T * sizeof(float));
    if (!ae->tok_level || !ae->pos || !ae->level_wt) return mv_fail(MV_ERR_NOMEM, "out of memory");
    ae->tok_row = ae->tok_level + ae->T;
    ae->tok_col = ae->tok_row + ae->T;
    for (int l = 0; l < ae->L; l++)
        for (int t = 0; t < ae->tokens[l]; t++) {
            int n = ae->offset[l] + t;
            ae->tok_level[n] = l;
            ae->tok_row[n] = t / ae->grid[l];
            ae->tok_col[n] = t % ae->grid[l];
            ae->level_wt[n] = (float)(1 << (2 * l));
        }
    pos2d_embedding(ae->pos, ae->tok_row, ae->tok_col, ae->T, ae->D);
    return MV_OK;
}

/* The sizes and the registered parameter tensors of a model of config cfg; nothing large is allocated
 * yet (tables and the arena come in ae_alloc). On failure ae is freed. */
static mv_status ae_layout(mv_ae *ae, const mv_config *cfg, mv_ae_variant variant) {
    memset(ae, 0, sizeof *ae);
    MV_TRY(check_shapes(cfg));
    ae->cfg = *cfg;
    ae->variant = variant;
    ae->H = cfg->image_size, ae->P = cfg->patch, ae->L = cfg->levels, ae->C = cfg->latent_channels;
    ae->D = cfg->ae_width, ae->depth = cfg->ae_depth, ae->heads = cfg->ae_heads;
    ae->PD = 3 * ae->P * ae->P;
    for (int l = 0; l < ae->L; l++) {
        ae->grid[l] = mv_config_grid(cfg, l);
        ae->tokens[l] = mv_config_tokens(cfg, l);
        ae->offset[l] = ae->T;
        ae->T += ae->tokens[l];
    }
    mv_status s;
    mv_params_init(&ae->params);
    ae->enc = calloc((size_t)ae->depth, sizeof(mv_block));
    ae->dec = calloc((size_t)ae->depth, sizeof(mv_block));
    if (!ae->enc || !ae->dec) {
        s = mv_fail(MV_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((s = register_part(ae, 0)) || (s = register_part(ae, 1))) goto fail;
    return MV_OK;
fail:
    mv_ae_free(ae);
    return s;
}

/* The token tables and the parameter arena of a laid-out model. On failure ae is freed. */
static mv_status ae_alloc(mv_ae *ae, int with_training) {
    mv_status s;
    if ((s = build_tables(ae))) goto fail;
    if ((s = mv_params_alloc(&ae->params, with_training))) {
        s = mv_fail(MV_ERR_NOMEM, "out of memory for %zu autoencoder parameters", ae->params.total);
        goto fail;
    }
    return MV_OK;
fail:
    mv_ae_free(ae);
    return s;
}

mv_status mv_ae_create(mv_ae *ae, const mv_config *cfg, mv_ae_variant variant, int with_training) {
    MV_TRY(ae_layout(ae, cfg, variant));
    return ae_alloc(ae, with_training);
}

void mv_ae_free(mv_ae *ae) {
    mv_params_free(&ae->params);
    free(ae->enc);
    free(ae->dec);
    free(ae->tok_level);
    mv_free(ae->pos);
    free(ae->level_wt);
    memset(ae, 0, sizeof *ae);
}

static void fill_uniform(mv_rng *r, float *x, size_t n, float bound) {
    mv_rng_uniform(r, x, n);
    for (size_t i = 0; i < n; i++) x[i] = (2.0f * x[i] - 1.0f) * bound;
}

/* PyTorch's default nn.Linear init: weight and bias U(+-1/sqrt(fan_in)). */
static void init_linear_default(mv_params *p, int wi, int bi, mv_rng *r) {
    float bound = 1.0f / sqrtf((float)p->info[wi].shape[1]);
    fill_uniform(r, mv_params_data(p, wi), p->info[wi].numel, bound);
    fill_uniform(r, mv_params_data(p, bi), p->info[bi].numel, bound);
}

void mv_ae_init_weights(mv_ae *ae, uint64_t seed) {
    mv_params *p = &ae->params;
    mv_rng r;
    mv_rng_init(&r, seed);
    for (int i = 0; i < ae->depth; i++) {
        mv_block_init(&ae->enc[i], p, &r);
        mv_block_init(&ae->dec[i], p, &r);
    }
    mv_rng_normal(&r, mv_params_data(p, ae->enc_level), p->info[ae->enc_level].numel);
    mv_rng_normal(&r, mv_params_data(p, ae->dec_level), p->info[ae->dec_level].numel);
    init_linear_default(p, ae->enc_patch_w, ae->enc_patch_b, &r);
    init_linear_default(p, ae->enc_bot_w, ae->enc_bot_b, &r);
    init_linear_default(p, ae->dec_unpatch_w, ae->dec_unpatch_b, &r);
    init_linear_default(p, ae->dec_unbot_w, ae->dec_unbot_b, &r);
}

mv_status mv_ae_load(mv_ae *ae, const char *path, int with_training) {
    mv_safetensors f;
    mv_ckpt_meta meta;
    mv_ae_variant variant = MV_AE_ADAPTIVE;
    MV_TRY(mv_ckpt_open(&f, &meta, path, "autoencoder"));
    mv_status s = mv_ae_variant_parse(meta.variant, &variant);
    if (s) {
        s = mv_fail_prefix(s, "%s", path);
        goto fail;
    }
    if ((s = ae_layout(ae, &meta.config, variant))) {
        s = mv_fail_prefix(s, "%s: stored config", path);
        goto fail;
    }
    /* The file must hold every tensor of the config it states before that config sizes any memory. */
    if ((s = mv_st_check_params(&f, &ae->params, "", 0))) {
        mv_ae_free(ae);
        goto fail;
    }
    if ((s = ae_alloc(ae, with_training))) goto fail;
    if ((s = mv_ckpt_load_params(&f, &ae->params, NULL))) {
        mv_ae_free(ae);
        goto fail;
    }
    mv_st_close(&f);
    return MV_OK;
fail:
    mv_st_close(&f);
    return s;
}

void mv_ae_hash(const mv_ae *ae, char out[17]) {
    uint64_t h = MV_HASH_SEED;
    const mv_params *p = &ae->params;
    for (int i = 0; i < p->count; i++) h = mv_fnv1a(h, mv_params_data(p, i), p->info[i].numel * sizeof(float));
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* ---------------------------------------------------------------- work buffers */

struct mv_ae_work {
    int max_batch, training;
    float *x;       /* [N, D] stream (encoder, then decoder) */
    float *enc_out; /* [N, D] encoder output (bottleneck input), training */
    float *z;       /* [N, C] latents */
    float *zin;     /* [N, C] decoder input (other levels zeroed) */
    float *dec_out; /* [N, D] decoder output (unpatchify input), training */
    float *out;     /* [N, PD] predicted patches, training */
    float *cond;    /* [B, D] decoder condition */
    float *dcond;   /* [B, D] */
    float *dx;      /* [N, D] */
    float *dpd;     /* [N, PD] */
    float *dz, *dzpre; /* [N, C] */
    int *tok_level; /* [N] level of every token of the batch */
    float *scratch; /* block scratch */
    float *img;     /* [nthreads, 2, H, W, 3] pyramid images */
    int nthreads;
    mv_block_acts *acts; /* [nacts] = 2 * depth: encoder blocks, then decoder blocks (training) */
    int nacts;
    void *arena;
};

static size_t work_floats(const mv_ae *ae, int B, int training, size_t *scratch_floats) {
    size_t N = (size_t)B * ae->T, D = ae->D, C = ae->C, PD = ae->PD;
    size_t sc = mv_block_scratch_floats(&ae->dec[0], N, ae->T);
    size_t f = N * D + N * C * 2 + (size_t)B * D * 2 + sc + 2 * (size_t)omp_get_max_threads() * ae->H * ae->H * 3 + N;
    if (training) f += 3 * N * D + 2 * N * PD + 2 * N * C;
    if (scratch_floats) *scratch_floats = sc;
    return f + 32 * 16; /* alignment slack */
}

/* An upper bound (block activations counted at their scratch size). */
size_t mv_ae_work_bytes(const mv_ae *ae, int max_batch, int training) {
    size_t n = work_floats(ae, max_batch, training, NULL);
    if (training)
        n += 2 * (size_t)ae->depth * mv_block_scratch_floats(&ae->dec[0], (size_t)max_batch * ae->T, ae->T);
    return n * sizeof(float);
}

static float *carve(float **cur, size_t n) {
    float *r = *cur;
    *cur += (n + 15) & ~(size_t)15;
    return r;
}

mv_status mv_ae_work_create(mv_ae_work **wp, const mv_ae *ae, int max_batch, int training) {
    mv_ae_work *w = calloc(1, sizeof *w);
    if (!w) return mv_fail(MV_ERR_NOMEM, "out of memory");
    size_t N = (size_t)max_batch * ae->T, D = ae->D, C = ae->C, PD = ae->PD, sc;
    size_t total = work_floats(ae, max_batch, training, &sc);
    mv_status s = MV_OK;
    w->max_batch = max_batch;
    w->training = training;
    w->arena = mv_alloc(total * sizeof(float));
    w->tok_level = malloc(N * sizeof(int));
    if (!w->arena || !w->tok_level) {
        s = mv_fail(MV_ERR_NOMEM, "out of memory for autoencoder work buffers (%.0f MB)", total * 4e-6);
        goto fail;
    }
    float *cur = w->arena;
    w->x = carve(&cur, N * D);
    w->z = carve(&cur, N * C);
    w->zin = carve(&cur, N * C);
    w->cond = carve(&cur, (size_t)max_batch * D);
    w->dcond = carve(&cur, (size_t)max_batch * D);
    w->scratch = carve(&cur, sc);
    w->nthreads = omp_get_max_threads();
    w->img = carve(&cur, 2 * (size_t)w->nthreads * ae->H * ae->H * 3);
    if (training) {
        w->enc_out = carve(&cur, N * D);
        w->dec_out = carve(&cur, N * D);
        w->dx = carve(&cur, N * D);
        w->out = carve(&cur, N * PD);
        w->dpd = carve(&cur, N * PD);
        w->dz = carve(&cur, N * C);
        w->dzpre = carve(&cur, N * C);
        w->acts = calloc(2 * (size_t)ae->depth, sizeof(mv_block_acts));
        w->nacts = w->acts ? 2 * ae->depth : 0;
        if (!w->acts) {
            s = mv_fail(MV_ERR_NOMEM, "out of memory");
            goto fail;
        }
        for (int i = 0; i < 2 * ae->depth; i++) {
            const mv_block *blk = i < ae->depth ? &ae->enc[i] : &ae->dec[i - ae->depth];
            if ((s = mv_block_acts_alloc(&w->acts[i], blk, N, ae->T))) goto fail;
        }
    }
    for (size_t n = 0; n < N; n++) w->tok_level[n] = ae->tok_level[n % ae->T];
    *wp = w;
    return MV_OK;
fail:
    mv_ae_work_free(w);
    return s;
}

void mv_ae_work_free(mv_ae_work *w) {
    if (!w) return;
    for (int i = 0; i < w->nacts; i++) mv_block_acts_free(&w->acts[i]);
    free(w->acts);
    mv_free(w->arena);
    free(w->tok_level);
    free(w);
}

/* ---------------------------------------------------------------- pyramid */

/* One frame: img [H, W, 3] float (overwritten by pooling) -> patches [T, PD]. */
static void pyramid_frame(const mv_ae *ae, float *patches, float *img, float *tmp) {
    int side = ae->H;
    for (int l = 0; l < ae->L; l++) {
        if (l) {
            avgpool2x2_forward(tmp, img, side, side, 3);
            side /= 2;
            memcpy(img, tmp, (size_t)side * side * 3 * sizeof(float));
        }
        patchify(patches + (size_t)ae->offset[l] * ae->PD, img, side, side, ae->P);
    }
}

/* Frames in parallel (one pair of scratch images per thread); the layers called inside run serially. */
static void pyramid(const mv_ae *ae, mv_ae_work *w, float *patches, const uint8_t *u8, const float *f32, int B) {
    size_t hw3 = (size_t)ae->H * ae->H * 3;
    int nt = MV_MIN(w->nthreads, B);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int b = 0; b < B; b++) {
        int tid = omp_get_thread_num();
        float *img = w->img + 2 * hw3 * (size_t)tid, *tmp = img + hw3;
        if (u8)
            for (size_t i = 0; i < hw3; i++) img[i] = u8[b * hw3 + i] / 255.0f;
        else
            memcpy(img, f32 + b * hw3, hw3 * sizeof(float));
        pyramid_frame(ae, patches + (size_t)b * ae->T * ae->PD, img, tmp);
    }
}

void mv_ae_pyramid_f32(const mv_ae *ae, mv_ae_work *w, float *patches, const float *frames, int B) {
    pyramid(ae, w, patches, NULL, frames, B);
}

void mv_ae_pyramid_u8(const mv_ae *ae, mv_ae_work *w, float *patches, const uint8_t *frames, int B) {
    pyramid(ae, w, patches, frames, NULL, B);
}

void mv_ae_image0(const mv_ae *ae, float *img, const float *out_patches, int B) {
    size_t hw3 = (size_t)ae->H * ae->H * 3;
    for (int b = 0; b < B; b++)
        unpatchify(img + b * hw3, out_patches + (size_t)b * ae->T * ae->PD, ae->H, ae->H, ae->P);
}

/* ---------------------------------------------------------------- forward */

/* x[b, t] += pos[t] + table[level[t]] for every token of B frames. */
static void add_pos_level(const mv_ae *ae, float *x, const float *table, int B) {
    int T = ae->T, D = ae->D;
#pragma omp parallel for schedule(static)
    for (long n = 0; n < (long)B * T; n++) {
        int t = (int)(n % T);
        float *r = x + (size_t)n * D;
        const float *pe = ae->pos + (size_t)t * D, *le = table + (size_t)ae->tok_level[t] * D;
        for (int d = 0; d < D; d++) r[d] += pe[d] + le[d];
    }
}

/* Cascaded variant: coarse latents of every frame = iterated 2x2 means of the level-0 grid. */
static void cascade(const mv_ae *ae, float *z, int B) {
    for (int b = 0; b < B; b++) {
        float *zb = z + (size_t)b * ae->T * ae->C;
        for (int l = 1; l < ae->L; l++)
            avgpool2x2_forward(zb + (size_t)ae->offset[l] * ae->C, zb + (size_t)ae->offset[l - 1] * ae->C,
                               ae->grid[l - 1], ae->grid[l - 1], ae->C);
    }
}

static mv_block_acts *acts_of(mv_ae_work *w, int i) { return w->training ? &w->acts[i] : NULL; }

/* Encoder: patches [B, T, PD] -> z [B, T, C]; training keeps activations in w. */
static void encoder_forward(const mv_ae *ae, mv_ae_work *w, float *z, const float *patches, int B) {
    const mv_params *p = &ae->params;
    int N = B * ae->T;
    MV_ASSERT(B <= w->max_batch);
    linear_forward(w->x, patches, mv_params_data(p, ae->enc_patch_w), mv_params_data(p, ae->enc_patch_b),
                   N, ae->PD, ae->D);
    add_pos_level(ae, w->x, mv_params_data(p, ae->enc_level), B);
    for (int i = 0; i < ae->depth; i++)
        mv_block_forward(&ae->enc[i], p, acts_of(w, i), w->scratch, w->x, NULL, NULL, B, ae->T);
    if (w->training) memcpy(w->enc_out, w->x, (size_t)N * ae->D * sizeof(float));
    linear_forward(z, w->x, mv_params_data(p, ae->enc_bot_w), mv_params_data(p, ae->enc_bot_b), N,
                   ae->D, ae->C);
    tanh_forward(z, z, (size_t)N * ae->C);
    if (ae->variant == MV_AE_CASCADED) cascade(ae, z, B);
}

/* Decoder: lat [B, T, C] kept at level keep[b] -> out [B, T, PD]. */
static void decoder_forward(const mv_ae *ae, mv_ae_work *w, float *out, const float *lat, const int *keep,
                            int B) {
    const mv_params *p = &ae->params;
    int T = ae->T, C = ae->C, D = ae->D, N = B * T;
    MV_ASSERT(B <= w->max_batch);
#pragma omp parallel for schedule(static)
    for (long n = 0; n < (long)N; n++) {
        int kept = ae->tok_level[n % T] == keep[n / T];
        for (int c = 0; c < C; c++) w->zin[n * C + c] = kept ? lat[n * C + c] : 0.0f;
    }
    linear_forward(w->x, w->zin, mv_params_data(p, ae->dec_unbot_w), mv_params_data(p, ae->dec_unbot_b),
                   N, C, D);
    const float *table = mv_params_data(p, ae->dec_level);
    add_pos_level(ae, w->x, table, B);
    embedding_forward(w->cond, keep, table, B, D);
    for (int i = 0; i < ae->depth; i++)
        mv_block_forward(&ae->dec[i], p, acts_of(w, ae->depth + i), w->scratch, w->x, w->cond, NULL, B, T);
    if (w->training) memcpy(w->dec_out, w->x, (size_t)N * D * sizeof(float));
    linear_forward(out, w->x, mv_params_data(p, ae->dec_unpatch_w), mv_params_data(p, ae->dec_unpatch_b),
                   N, D, ae->PD);
}

void mv_ae_encode(const mv_ae *ae, mv_ae_work *w, float *lat, const float *patches, int B) {
    int tr = w->training;
    w->training = 0;
    encoder_forward(ae, w, lat, patches, B);
    w->training = tr;
}

void mv_ae_decode(const mv_ae *ae, mv_ae_work *w, float *out, const float *lat, const int *keep, int B) {
    for (int b = 0; b < B; b++) MV_ASSERT(keep[b] >= 0 && keep[b] < ae->L);
    int tr = w->training;
    w->training = 0;
    decoder_forward(ae, w, out, lat, keep, B);
    w->training = tr;
}

/* ---------------------------------------------------------------- training step */

static void level_losses(const mv_ae *ae, const mv_ae_work *w, const float *patches, int B, float *out) {
    for (int l = 0; l < ae->L; l++) {
        double s = 0;
        int n0 = ae->offset[l], nt = ae->tokens[l];
#pragma omp parallel for reduction(+ : s) schedule(static)
        for (int k = 0; k < B * nt; k++) {
            size_t n = (size_t)(k / nt) * ae->T + n0 + k % nt;
            const float *a = w->out + n * ae->PD, *b = patches + n * ae->PD;
            for (int c = 0; c < ae->PD; c++) s += (double)(a[c] - b[c]) * (a[c] - b[c]);
        }
        out[l] = (float)(s / ((double)B * nt * ae->PD));
    }
}

/* Gradient reaching the encoder's latents: only the kept level, and in the cascaded variant only
 * level 0 (the pooled coarse latents are detached). */
static void mask_latent_grad(const mv_ae *ae, float *dz, const int *keep, int B) {
    int T = ae->T, C = ae->C;
#pragma omp parallel for schedule(static)
    for (long n = 0; n < (long)B * T; n++) {
        int l = ae->tok_level[n % T];
        int pass = l == keep[n / T] && (ae->variant == MV_AE_ADAPTIVE || l == 0);
        if (!pass) memset(dz + n * C, 0, (size_t)C * sizeof(float));
    }
}

static void decoder_backward(mv_ae *ae, mv_ae_work *w, const int *keep, int B) {
    mv_params *p = &ae->params;
    int T = ae->T, D = ae->D, N = B * T;
    memset(w->dx, 0, (size_t)N * D * sizeof(float));
    linear_backward(w->dx, mv_params_grad(p, ae->dec_unpatch_w), mv_params_grad(p, ae->dec_unpatch_b),
                    w->dpd, w->dec_out, mv_params_data(p, ae->dec_unpatch_w), N, D, ae->PD);
    memset(w->dcond, 0, (size_t)B * D * sizeof(float));
    for (int i = ae->depth - 1; i >= 0; i--)
        mv_block_backward(&ae->dec[i], p, &w->acts[ae->depth + i], w->scratch, w->dx, w->dcond, NULL, B, T);
    float *dtable = mv_params_grad(p, ae->dec_level);
    embedding_backward(dtable, w->dx, w->tok_level, N, D);
    embedding_backward(dtable, w->dcond, keep, B, D);
    memset(w->dz, 0, (size_t)N * ae->C * sizeof(float));
    linear_backward(w->dz, mv_params_grad(p, ae->dec_unbot_w), mv_params_grad(p, ae->dec_unbot_b), w->dx,
                    w->zin, mv_params_data(p, ae->dec_unbot_w), N, ae->C, D);
}

static void encoder_backward(mv_ae *ae, mv_ae_work *w, const float *patches, int B) {
    mv_params *p = &ae->params;
    int T = ae->T, D = ae->D, N = B * T;
    memset(w->dzpre, 0, (size_t)N * ae->C * sizeof(float));
    tanh_backward(w->dzpre, w->dz, w->z, (size_t)N * ae->C);
    memset(w->dx, 0, (size_t)N * D * sizeof(float));
    linear_backward(w->dx, mv_params_grad(p, ae->enc_bot_w), mv_params_grad(p, ae->enc_bot_b), w->dzpre,
                    w->enc_out, mv_params_data(p, ae->enc_bot_w), N, D, ae->C);
    for (int i = ae->depth - 1; i >= 0; i--)
        mv_block_backward(&ae->enc[i], p, &w->acts[i], w->scratch, w->dx, NULL, NULL, B, T);
    embedding_backward(mv_params_grad(p, ae->enc_level), w->dx, w->tok_level, N, D);
    linear_backward(NULL, mv_params_grad(p, ae->enc_patch_w), mv_params_grad(p, ae->enc_patch_b), w->dx,
                    patches, mv_params_data(p, ae->enc_patch_w), N, ae->PD, D);
}

float mv_ae_train_step(mv_ae *ae, mv_ae_work *w, const float *patches, const int *keep, int B,
                       float *level_loss) {
    MV_ASSERT(w->training && B <= w->max_batch && ae->params.grad);
    int N = B * ae->T;
    for (int b = 0; b < B; b++) MV_ASSERT(keep[b] >= 0 && keep[b] < ae->L);
    float *wt = w->dzpre; /* borrowed: [N] loss weights 4^level, free until the encoder backward */
    for (int n = 0; n < N; n++) wt[n] = ae->level_wt[n % ae->T];
    encoder_forward(ae, w, w->z, patches, B);
    decoder_forward(ae, w, w->out, w->z, keep, B);
    float loss = mse_loss_forward(w->out, patches, NULL, wt, N, ae->PD);
    if (level_loss) level_losses(ae, w, patches, B, level_loss);
    memset(w->dpd, 0, (size_t)N * ae->PD * sizeof(float));
    mse_loss_backward(w->dpd, w->out, patches, NULL, wt, N, ae->PD, 1.0f);
    decoder_backward(ae, w, keep, B);
    mask_latent_grad(ae, w->dz, keep, B);
    encoder_backward(ae, w, patches, B);
    return loss;
}
