/* Video DiT training batches and step: see dit_batch.h. */
#include "pipeline/dit_batch.h"

#include <math.h>

#include "core/core.h"
#include "core/rng.h"
#include "rollout/diffusion.h"

/* ------------------------------------------------------------------ trainer */

static mv_status check_actions(const float *actions, int videos, int frames) {
    for (size_t i = 0; i < (size_t)videos * frames; i++) {
        float a = actions[i * 6];
        if (!(a == -1.0f || a == 0.0f || a == 1.0f || a == 2.0f))
            return mv_fail(MV_ERR_FORMAT, "actions.npy: action id %g of video %zu frame %zu is unknown "
                                          "(expected 0 forward, 1 left, 2 right or -1 none)", a, i / frames, i % frames);
    }
    return MV_OK;
}

mv_status mv_dit_trainer_init(mv_dit_trainer *tr, mv_dit *model, const mv_schedule *sched, const mv_latents *lat,
                              const float *actions, int videos, int frames, int B) {
    memset(tr, 0, sizeof *tr);
    tr->method = sched->method;
    tr->sched = sched;
    tr->model = model;
    tr->lat = lat;
    tr->actions = actions;
    tr->B = B;
    int C = model->C;
    if (lat->videos != videos || lat->frames != frames)
        return mv_fail(MV_ERR_SHAPE, "%s: latents hold %d videos x %d frames but the data set has %d x %d",
                       lat->file.path, lat->videos, lat->frames, videos, frames);
    if (model->kind != mv_method_dit_kind(sched->method))
        return mv_fail(MV_ERR_ARG, "dit_batch: method %s does not fit a %s model", mv_method_name(sched->method),
                       mv_dit_kind_name(model->kind));
    MV_TRY(check_actions(actions, videos, frames));
    if (model->kind == MV_DIT_FRAMEPACK) {
        tr->span = model->fp_frames;
        tr->T = model->fp_tokens;
    } else {
        tr->span = sched->N;
        tr->T = sched->tokens_per_step_max;
        for (int k = 0; k < sched->nsteps; k++)
            if (sched->steps[k].tokens != tr->T)
                return mv_fail(MV_ERR_UNSUPPORTED, "dit_batch: schedule steps have different token counts (%d vs %d); "
                                                   "batches need equal counts", sched->steps[k].tokens, tr->T);
    }
    if (frames < tr->span)
        return mv_fail(MV_ERR_SHAPE, "%s: videos have %d frames, a %s training sample needs %d", lat->file.path,
                       frames, mv_method_name(sched->method), tr->span);
    MV_TRY(mv_dit_acts_alloc(&tr->acts, model, B, tr->T));
    size_t N = (size_t)B * tr->T;
    size_t nx = model->kind == MV_DIT_FRAMEPACK ? (size_t)B * tr->span * model->grid0 * model->grid0 : N;
    float **f[] = {&tr->x, &tr->eps, &tr->xt, &tr->vt, &tr->vp, &tr->dv};
    for (size_t i = 0; i < MV_ARRAY_LEN(f); i++)
        if (!(*f[i] = mv_alloc(nx * C * sizeof(float)))) goto nomem;
    if (!(tr->t = mv_alloc(nx * sizeof(float)))) goto nomem;
    int **g[] = {&tr->frame, &tr->level, &tr->row, &tr->col, &tr->action};
    for (size_t i = 0; i < MV_ARRAY_LEN(g); i++)
        if (!(*g[i] = mv_alloc(nx * sizeof(int)))) goto nomem;
    if (!(tr->keep = mv_alloc(B)) || !(tr->ctx = mv_alloc(nx)) || !(tr->den = mv_alloc(nx))) goto nomem;
    if (!(tr->cells = malloc((size_t)sched->levels * sched->N * sizeof(mv_cell)))) goto nomem;
    return MV_OK;
nomem:
    mv_dit_trainer_free(tr);
    return mv_fail(MV_ERR_NOMEM, "dit_batch: out of memory for batch buffers");
}

void mv_dit_trainer_free(mv_dit_trainer *tr) {
    mv_dit_acts_free(&tr->acts);
    float *f[] = {tr->x, tr->eps, tr->xt, tr->t, tr->vt, tr->vp, tr->dv};
    for (size_t i = 0; i < MV_ARRAY_LEN(f); i++) mv_free(f[i]);
    int *g[] = {tr->frame, tr->level, tr->row, tr->col, tr->action};
    for (size_t i = 0; i < MV_ARRAY_LEN(g); i++) mv_free(g[i]);
    mv_free(tr->keep);
    mv_free(tr->ctx);
    mv_free(tr->den);
    free(tr->cells);
    memset(tr, 0, sizeof *tr);
}

size_t mv_dit_trainer_bytes(const mv_dit_trainer *tr) {
    const mv_dit *m = tr->model;
    size_t N = (size_t)tr->B * tr->T, D = m->D;
    /* per block: about 32 D floats per token of saved activations; dit-level buffers ~20 D */
    return N * D * 4 * (32 * (size_t)m->depth + 20) + N * (size_t)tr->T * (m->context_cache ? 1 : 0);
}

static int action_id(const mv_dit_trainer *tr, int video, int frame) {
    return (int)tr->actions[((size_t)video * tr->lat->frames + frame) * 6];
}

/* Universal sample b: schedule step k at offset `off` of `video`, tokens with ground-truth latents. */
static void fill_universal(mv_dit_trainer *tr, int b, int k, int video, int off, int keep, float td) {
    const mv_schedule *s = tr->sched;
    int C = tr->model->C, T = tr->T;
    tr->keep[b] = (uint8_t)keep;
    int ntok, ncell = mv_step_cells(s, k, off, tr->cells, &ntok, NULL);
    MV_ASSERT(ntok == T);
    size_t n = (size_t)b * T;
    for (int ci = 0; ci < ncell; ci++) {
        const mv_cell *cell = &tr->cells[ci];
        int l = cell->level, g = tr->model->grid[l], tl = tr->sched->tokens[l];
        mv_latents_read(tr->lat, l, video, cell->frame, tr->x + n * C);
        int act = action_id(tr, video, cell->frame);
        for (int i = 0; i < tl; i++, n++) {
            tr->frame[n] = cell->frame;
            tr->level[n] = l;
            tr->row[n] = i / g;
            tr->col[n] = i % g;
            tr->action[n] = act;
            tr->den[n] = (uint8_t)(cell->role == MV_ROLE_DENOISED);
            tr->ctx[n] = (uint8_t)(cell->role == MV_ROLE_CONTEXT);
        }
    }
    mv_diff_train_times(tr->t + (size_t)b * T, tr->den + (size_t)b * T, T, td, keep);
}

/* FramePack sample b: F consecutive level-0 frames from `off` of `video`, the last n_d denoised. */
static void fill_framepack(mv_dit_trainer *tr, int b, int video, int off, int keep, float td) {
    const mv_dit *m = tr->model;
    int F = m->fp_frames, T0 = m->grid0 * m->grid0, C = m->C, nd = m->fp_denoise;
    tr->keep[b] = (uint8_t)keep;
    for (int f = 0; f < F; f++) {
        size_t o = (size_t)b * F + f;
        mv_latents_read(tr->lat, 0, video, off + f, tr->x + o * T0 * C);
        tr->action[o] = action_id(tr, video, off + f);
        tr->t[o] = f >= F - nd ? td : (keep ? 0.0f : 1.0f);
    }
}

void mv_dit_train_fill(mv_dit_trainer *tr, int b, int k, int video, int off, int keep, float td) {
    MV_ASSERT(b >= 0 && b < tr->B && video >= 0 && video < tr->lat->videos);
    MV_ASSERT(off >= 0 && off + tr->span <= tr->lat->frames);
    if (tr->model->kind == MV_DIT_FRAMEPACK) {
        fill_framepack(tr, b, video, off, keep, td);
    } else {
        MV_ASSERT(k >= 0 && k < tr->sched->nsteps);
        fill_universal(tr, b, k, video, off, keep, td);
    }
}

/* Sample b of a batch: the random draws (schedule step for universal models, placement, condition
 * dropout, t_d), in this order, then the sample's buffers. */
static void draw_sample(mv_dit_trainer *tr, mv_rng *g, int b) {
    int k = tr->model->kind == MV_DIT_FRAMEPACK ? 0 : mv_schedule_sample_step(tr->sched, mv_rng_uniform1(g));
    int video = (int)mv_rng_below(g, (uint32_t)tr->lat->videos);
    int off = (int)mv_rng_below(g, (uint32_t)(tr->lat->frames - tr->span + 1));
    int keep;
    float td;
    mv_diff_train_draw(g, MV_GUIDANCE_DROPOUT, &keep, &td);
    mv_dit_train_fill(tr, b, k, video, off, keep, td);
}

/* The stream of sample i of the global batch of step `step` of run `seed`. */
static mv_rng sample_stream(uint64_t seed, long step, int i) {
    mv_rng base, g;
    mv_rng_init(&base, seed);
    g = mv_rng_fork(&base, 2000003ull + (uint64_t)step);
    return mv_rng_fork(&g, (uint64_t)i);
}

/* Samples 0..B-1 of the buffers: global samples first..first+B-1 of step `step`, each drawn from its
 * own stream (draws, then its noise eps [per floats] at offset b * per). */
static void draw_batch(mv_dit_trainer *tr, uint64_t seed, long step, size_t per) {
    for (int b = 0; b < tr->B; b++) {
        mv_rng g = sample_stream(seed, step, tr->first + b);
        draw_sample(tr, &g, b);
        mv_rng_normal(&g, tr->eps + b * per, per);
    }
}

mv_status mv_dit_train_step(mv_dit_trainer *tr, uint64_t seed, long step, float *loss) {
    mv_dit *m = tr->model;
    int B = tr->B, T = tr->T, C = m->C;
    if (m->kind == MV_DIT_FRAMEPACK) {
        int F = m->fp_frames, T0 = m->grid0 * m->grid0, nd = m->fp_denoise;
        size_t nx = (size_t)B * F * T0;
        draw_batch(tr, seed, step, (size_t)F * T0 * C);
        /* per-token times for the noise formula */
        for (size_t i = 0; i < nx; i++) tr->dv[i] = tr->t[i / T0]; /* dv as scratch [nx] */
        mv_diff_add_noise(tr->xt, tr->x, tr->eps, tr->dv, (int)nx, C);
        mv_diff_v_target(tr->vt, tr->x, tr->eps, tr->dv, (int)nx, C);
        MV_TRY(mv_dit_fp_forward(m, &tr->acts, tr->vp, tr->xt, tr->t, tr->action, B));
        /* targets of the denoised frames: [B, nd, T0, C] packed like vp */
        size_t per = (size_t)nd * T0 * C;
        for (int b = 0; b < B; b++)
            memmove(tr->vt + b * per, tr->vt + ((size_t)b * F + F - nd) * T0 * C, per * sizeof(float));
        int n = B * nd * T0;
        memset(tr->den, 1, n);
        memset(tr->dv, 0, (size_t)n * C * sizeof(float));
        *loss = (float)mv_diff_v_loss(tr->dv, tr->vp, tr->vt, tr->den, n, C, 1.0f);
        tr->loss_count = (long)n * C;
        mv_dit_fp_backward(m, &tr->acts, tr->dv);
        return MV_OK;
    }
    draw_batch(tr, seed, step, (size_t)T * C);
    size_t N = (size_t)B * T;
    mv_diff_add_noise(tr->xt, tr->x, tr->eps, tr->t, (int)N, C);
    mv_diff_v_target(tr->vt, tr->x, tr->eps, tr->t, (int)N, C);
    mv_dit_tokens tk = {B, T, tr->frame, tr->level, tr->row, tr->col, tr->t, tr->action, tr->keep, tr->ctx};
    MV_TRY(mv_dit_forward(m, &tr->acts, tr->vp, tr->xt, &tk));
    memset(tr->dv, 0, N * C * sizeof(float));
    *loss = (float)mv_diff_v_loss(tr->dv, tr->vp, tr->vt, tr->den, (int)N, C, 1.0f);
    tr->loss_count = 0;
    for (size_t i = 0; i < N; i++) tr->loss_count += tr->den[i] ? C : 0;
    mv_dit_backward(m, &tr->acts, tr->dv);
    return MV_OK;
}
