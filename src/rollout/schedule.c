/* Rollout schedules as plain data (OFFICIAL_MODULES.md §4): MilliVid coarse-to-fine (§4.2), the
 * FramePack model's chunk (§2.3, §4.5) and the full-resolution sliding window (§4.3). */
#include "rollout/schedule.h"

#include "core/core.h"

static const struct {
    const char *name;
    mv_method method;
} method_names[] = {
    {"millivid", MV_METHOD_MILLIVID},     {"framepack", MV_METHOD_FRAMEPACK},
    {"fullres", MV_METHOD_FULLRES},       {"full-res", MV_METHOD_FULLRES},
    {"full_resolution", MV_METHOD_FULLRES},
};

mv_status mv_method_from_string(const char *name, mv_method *out) {
    for (size_t i = 0; name && i < MV_ARRAY_LEN(method_names); i++)
        if (!strcmp(name, method_names[i].name)) {
            *out = method_names[i].method;
            return MV_OK;
        }
    return mv_fail(MV_ERR_ARG, "unknown method '%s' (expected millivid, framepack or fullres)",
                   name ? name : "(null)");
}

mv_dit_kind mv_method_dit_kind(mv_method m) {
    return m == MV_METHOD_FRAMEPACK ? MV_DIT_FRAMEPACK : MV_DIT_UNIVERSAL;
}

const char *mv_method_name(mv_method m) {
    switch (m) {
    case MV_METHOD_MILLIVID: return "millivid";
    case MV_METHOD_FRAMEPACK: return "framepack";
    case MV_METHOD_FULLRES: return "fullres";
    }
    return "unknown";
}

/* ---------------------------------------------------------------- construction helpers */

static mv_status schedule_alloc(mv_schedule *s, int levels, int N, int nsteps) {
    s->levels = levels;
    s->N = N;
    s->nsteps = nsteps;
    s->steps = calloc((size_t)nsteps, sizeof(mv_step));
    s->roles = calloc((size_t)nsteps * levels * N, 1);
    s->cdf = calloc((size_t)nsteps, sizeof(double));
    if (!s->steps || !s->roles || !s->cdf) return mv_fail(MV_ERR_NOMEM, "schedule: out of memory");
    for (int k = 0; k < nsteps; k++) s->steps[k].role = s->roles + (size_t)k * levels * N;
    return MV_OK;
}

/* Sets role[level][a, b) of step k; fails when the range leaves the chunk. */
static mv_status set_roles(mv_schedule *s, int k, int level, int a, int b, int role) {
    if (a < 0 || b > s->N || a > b)
        return mv_fail(MV_ERR_INTERNAL, "schedule: step %d level %d frames [%d, %d) outside the %d-frame "
                       "chunk", k, level, a, b, s->N);
    memset(s->steps[k].role + (size_t)level * s->N + a, role, (size_t)(b - a));
    return MV_OK;
}

/* Fills tokens, denoised_tokens, S, prob (1/G per group, uniform within) and the cdf. */
static void schedule_finish(mv_schedule *s) {
    int per_group[MV_MAX_LEVELS] = {0};
    s->S = s->N;
    s->tokens_per_step_max = 0;
    for (int k = 0; k < s->nsteps; k++) {
        mv_step *st = &s->steps[k];
        st->tokens = st->denoised_tokens = 0;
        for (int l = 0; l < s->levels; l++)
            for (int f = 0; f < s->N; f++) {
                int r = st->role[(size_t)l * s->N + f];
                if (r != MV_ROLE_UNSEEN) st->tokens += s->tokens[l];
                if (r == MV_ROLE_DENOISED) {
                    st->denoised_tokens += s->tokens[l];
                    s->S = MV_MIN(s->S, f);
                }
            }
        s->tokens_per_step_max = MV_MAX(s->tokens_per_step_max, st->tokens);
        per_group[st->target_level]++;
    }
    s->ngroups = 0;
    for (int g = 0; g < MV_MAX_LEVELS; g++) s->ngroups += per_group[g] > 0;
    double acc = 0;
    for (int k = 0; k < s->nsteps; k++) {
        s->steps[k].prob = 1.0 / ((double)s->ngroups * per_group[s->steps[k].target_level]);
        acc += s->steps[k].prob;
        s->cdf[k] = acc;
    }
    s->A = s->N - s->S;
}

/* ---------------------------------------------------------------- MilliVid (§4.2) */

typedef struct {
    mv_schedule *s;
    int pos[MV_MAX_LEVELS];
    int k; /* next step index */
} millivid_state;

static mv_status millivid_emit(millivid_state *ms, int g) {
    mv_schedule *s = ms->s;
    int k = ms->k++;
    int lo = ms->pos[0], hi = ms->pos[0]; /* frames claimed by finer levels */
    s->steps[k].target_level = g;
    for (int l = 0; l < s->levels; l++) {
        int a = ms->pos[l], b = ms->pos[l] + s->windows[l];
        if (l == g) {
            MV_TRY(set_roles(s, k, l, a, b, MV_ROLE_DENOISED));
            lo -= s->extra[l];
            MV_TRY(set_roles(s, k, l, lo, lo + s->extra[l], MV_ROLE_CONTEXT));
            continue;
        }
        int nb = MV_MAX(0, MV_MIN(b, lo) - a);
        int ni = MV_MAX(0, MV_MIN(b, hi) - MV_MAX(a, lo));
        int na = MV_MAX(0, b - MV_MAX(a, hi));
        MV_ASSERT(nb + ni + na == b - a);
        lo -= nb + ni;
        hi += na;
        MV_TRY(set_roles(s, k, l, lo, lo + nb + ni, MV_ROLE_CONTEXT));
        MV_TRY(set_roles(s, k, l, hi - na, hi, MV_ROLE_CONTEXT));
    }
    return MV_OK;
}

static mv_status millivid_visit(millivid_state *ms, int l) {
    ms->pos[l] += ms->s->windows[l];
    MV_TRY(millivid_emit(ms, l));
    if (l > 0)
        for (int r = 0; r < ms->s->windows[l] / ms->s->windows[l - 1]; r++) MV_TRY(millivid_visit(ms, l - 1));
    return MV_OK;
}

static mv_status build_millivid(mv_schedule *s, const mv_config *c) {
    int L = c->levels, sumw = 0, nsteps = 0;
    if (c->mv_budget <= 0) return mv_fail(MV_ERR_ARG, "config: millivid.budget must be > 0, got %d", c->mv_budget);
    for (int l = 0; l < L; l++) {
        int w = c->mv_windows[l];
        if (w <= 0) return mv_fail(MV_ERR_ARG, "config: millivid.windows[%d] must be > 0, got %d", l, w);
        if (l > 0 && w % c->mv_windows[l - 1])
            return mv_fail(MV_ERR_ARG, "config: millivid.windows[%d] = %d is not a multiple of windows[%d] = %d",
                           l, w, l - 1, c->mv_windows[l - 1]);
        s->windows[l] = w;
        s->extra[l] = c->mv_budget / s->tokens[l];
        sumw += w;
    }
    for (int l = 0; l < L; l++) nsteps += s->windows[L - 1] / s->windows[l];
    MV_TRY(schedule_alloc(s, L, sumw + s->extra[L - 1], nsteps));
    int S = s->N - s->windows[L - 1];
    millivid_state ms = {.s = s, .k = 0};
    for (int l = 0; l < L; l++) ms.pos[l] = S - s->windows[l];
    MV_TRY(millivid_visit(&ms, L - 1));
    MV_ASSERT(ms.k == nsteps);
    return MV_OK;
}

/* ---------------------------------------------------------------- FramePack model (§2.3, §4.5) */

static mv_status build_framepack(mv_schedule *s, const mv_config *c) {
    int L = c->levels, F = 0;
    for (int l = 0; l < L; l++) {
        if (c->fp_context[l] < 0)
            return mv_fail(MV_ERR_ARG, "config: framepack.context[%d] must be >= 0, got %d", l, c->fp_context[l]);
        s->windows[l] = c->fp_context[l];
        F += c->fp_context[l];
    }
    if (c->fp_denoise <= 0)
        return mv_fail(MV_ERR_ARG, "config: framepack.denoise must be > 0, got %d", c->fp_denoise);
    s->extra[0] = c->fp_denoise;
    MV_TRY(schedule_alloc(s, L, F + c->fp_denoise, 1));
    int f = 0;
    for (int l = L - 1; l >= 0; l--) { /* oldest frames at the coarsest kernel */
        MV_TRY(set_roles(s, 0, l, f, f + s->windows[l], MV_ROLE_CONTEXT));
        f += s->windows[l];
    }
    return set_roles(s, 0, 0, f, s->N, MV_ROLE_DENOISED);
}

/* ---------------------------------------------------------------- full-resolution rollout (§4.3) */

static mv_status build_fullres(mv_schedule *s, const mv_config *c) {
    int N = c->fr_frames;
    if (N < 2) return mv_fail(MV_ERR_ARG, "config: fullres.frames must be >= 2 (context + denoised), got %d", N);
    MV_TRY(schedule_alloc(s, 1, N, 1));
    MV_TRY(set_roles(s, 0, 0, 0, N / 2, MV_ROLE_CONTEXT));
    return set_roles(s, 0, 0, N / 2, N, MV_ROLE_DENOISED);
}

mv_status mv_schedule_build(mv_schedule *s, mv_method m, const mv_config *c) {
    mv_status st = MV_OK;
    memset(s, 0, sizeof(*s));
    s->method = m;
    if (c->levels < 1 || c->levels > MV_MAX_LEVELS)
        return mv_fail(MV_ERR_ARG, "config: levels must be in [1, %d], got %d", MV_MAX_LEVELS, c->levels);
    if (c->patch <= 0 || c->image_size <= 0 || c->image_size % (c->patch << (c->levels - 1)))
        return mv_fail(MV_ERR_ARG, "config: image_size %d is not a multiple of patch * 2^(levels-1) = %d",
                       c->image_size, c->patch << (c->levels - 1));
    for (int l = 0; l < c->levels; l++) s->tokens[l] = mv_config_tokens(c, l);
    switch (m) {
    case MV_METHOD_MILLIVID: st = build_millivid(s, c); break;
    case MV_METHOD_FRAMEPACK: st = build_framepack(s, c); break;
    case MV_METHOD_FULLRES: st = build_fullres(s, c); break;
    default: st = mv_fail(MV_ERR_ARG, "schedule: unknown method %d", (int)m);
    }
    if (st != MV_OK) goto fail;
    schedule_finish(s);
    return MV_OK;
fail:
    mv_schedule_free(s);
    s->method = m;
    return st;
}

void mv_schedule_free(mv_schedule *s) {
    free(s->steps);
    free(s->roles);
    free(s->cdf);
    memset(s, 0, sizeof(*s));
}

/* ---------------------------------------------------------------- training and rollout */

int mv_schedule_sample_step(const mv_schedule *s, double u) {
    int lo = 0, hi = s->nsteps; /* first index with cdf >= u */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (s->cdf[mid] < u) lo = mid + 1;
        else hi = mid;
    }
    return MV_MIN(lo, s->nsteps - 1);
}

mv_status mv_rollout_chunks(const mv_schedule *s, int context, int frames, int *chunk_start0,
                            int *nchunks, int *limit) {
    if (context < 0) return mv_fail(MV_ERR_ARG, "rollout: context must be >= 0 frames, got %d", context);
    if (context >= frames)
        return mv_fail(MV_ERR_ARG, "rollout: context %d must be shorter than the %d frames to roll out to",
                       context, frames);
    if (context < s->S)
        return mv_fail(MV_ERR_ARG, "rollout: context %d is shorter than the %d frames the %s schedule reaches "
                       "back (use at least %d context frames)", context, s->S, mv_method_name(s->method), s->S);
    /* §4.1: ceil. The official FramePack driver (§4.5) uses floor; the two agree whenever A divides
     * frames - context (every official config); rounding up means no frame before `frames` is left
     * ungenerated, the last chunk then runs past the end like §4.1's padding. */
    int n = (frames - context + s->A - 1) / s->A;
    *chunk_start0 = context - s->S;
    *nchunks = n;
    *limit = context + n * s->A;
    return MV_OK;
}

int mv_step_cells(const mv_schedule *s, int step, int chunk_start, mv_cell *cells, int *ntokens,
                  int *first_frame) {
    int n = 0, tok = 0, f0 = chunk_start + s->N;
    for (int l = 0; l < s->levels; l++)
        for (int f = 0; f < s->N; f++) {
            int r = mv_step_role(s, step, l, f);
            if (r == MV_ROLE_UNSEEN) continue;
            cells[n++] = (mv_cell){.level = l, .frame = chunk_start + f, .role = r};
            tok += s->tokens[l];
            f0 = MV_MIN(f0, chunk_start + f);
        }
    if (ntokens) *ntokens = tok;
    if (first_frame) *first_frame = f0;
    return n;
}

/* ---------------------------------------------------------------- printing */

/* Appends the frame ranges of row `level` holding `role` as "a-b, c, d-e" to buf at *len. */
static void append_ranges(const mv_schedule *s, int step, int level, int role, int chunk_start,
                          char *buf, size_t size, size_t *len, int json) {
    int first = 1;
    for (int f = 0; f < s->N; f++) {
        if (mv_step_role(s, step, level, f) != role) continue;
        int g = f;
        while (!json && g + 1 < s->N && mv_step_role(s, step, level, g + 1) == role) g++;
        int n;
        if (json || g == f)
            n = snprintf(buf + *len, size - *len, "%s%d", first ? "" : ", ", chunk_start + f);
        else
            n = snprintf(buf + *len, size - *len, "%s%d-%d", first ? "" : ", ", chunk_start + f, chunk_start + g);
        if (n > 0) *len = MV_MIN(size - 1, *len + (size_t)n);
        first = 0;
        f = g;
    }
}

static int row_has(const mv_schedule *s, int step, int level, int role) {
    for (int f = 0; f < s->N; f++)
        if (mv_step_role(s, step, level, f) == role) return 1;
    return 0;
}

/* Smallest chunk frame used by step k. */
static int step_first_frame(const mv_schedule *s, int k) {
    for (int f = 0; f < s->N; f++)
        for (int l = 0; l < s->levels; l++)
            if (mv_step_role(s, k, l, f) != MV_ROLE_UNSEEN) return f;
    return s->N;
}

char *mv_step_describe(const mv_schedule *s, int step, int level, int chunk_start, char *buf,
                       size_t size) {
    size_t len = 0;
    int hc = row_has(s, step, level, MV_ROLE_CONTEXT), hd = row_has(s, step, level, MV_ROLE_DENOISED);
    buf[0] = 0;
    if (hc) {
        len = (size_t)snprintf(buf, size, "C ");
        append_ranges(s, step, level, MV_ROLE_CONTEXT, chunk_start, buf, size, &len, 0);
    }
    if (hd) {
        int n = snprintf(buf + len, size - len, "%sD ", hc ? "; " : "");
        if (n > 0) len = MV_MIN(size - 1, len + (size_t)n);
        append_ranges(s, step, level, MV_ROLE_DENOISED, chunk_start, buf, size, &len, 0);
    }
    if (!hc && !hd) snprintf(buf, size, "-");
    return buf;
}

mv_status mv_schedule_print(FILE *f, const mv_schedule *s, int context, int frames, int sample_steps,
                            double guidance) {
    int cs0, nchunks, limit;
    MV_TRY(mv_rollout_chunks(s, context, frames, &cs0, &nchunks, &limit));
    long total = (long)s->nsteps * nchunks, calls = total * sample_steps * (guidance != 1.0 ? 2 : 1);
    static const char *rows[] = {"levels (L0 finest)", "level-0 latents; context rows = compression kernel level",
                                 "level 0 only"};
    fprintf(f, "method %s: %d row%s: %s; tokens per frame", mv_method_name(s->method), s->levels,
            s->levels > 1 ? "s" : "", rows[s->method]);
    for (int l = 0; l < s->levels; l++) fprintf(f, " %d", s->tokens[l]);
    fprintf(f, "\n  N = %d frames per chunk, S = %d (context reaches back), A = %d frames per chunk\n", s->N,
            s->S, s->A);
    fprintf(f, "  rollout: context 0-%d, generate %d-%d: first chunk_start %d, %d chunks, frames needed %d\n",
            context - 1, context, frames - 1, cs0, nchunks, limit);
    fprintf(f, "  steps per chunk %d, total DiT steps %ld, DiT calls with %d sampler steps%s: %ld\n", s->nsteps,
            total, sample_steps, guidance != 1.0 ? " (x2 for guidance)" : "", calls);
    fprintf(f, "  tokens per step %d (max), denoised tokens per step %d\n", s->tokens_per_step_max,
            s->steps[0].denoised_tokens);
    size_t size = (size_t)s->N * 12 + 64;
    char *buf = malloc(size);
    if (!buf) return mv_fail(MV_ERR_NOMEM, "schedule: out of memory");
    for (int c = 0; c < nchunks; c++) {
        int cs = cs0 + c * s->A;
        fprintf(f, "chunk %d (chunk_start %d)\n", c, cs);
        for (int k = 0; k < s->nsteps; k++) {
            fprintf(f, "  step %3d  target L%d  f0 %4d", k, s->steps[k].target_level, cs + step_first_frame(s, k));
            for (int l = 0; l < s->levels; l++)
                fprintf(f, " | L%d %s", l, mv_step_describe(s, k, l, cs, buf, size));
            fputc('\n', f);
        }
    }
    free(buf);
    return MV_OK;
}

/* Prints [{"level": l, "frames": [...]}, ...] for the rows of step k holding role. */
static void json_role(FILE *f, const mv_schedule *s, int k, int cs, int role, char *buf, size_t size) {
    int first = 1;
    fputc('[', f);
    for (int l = 0; l < s->levels; l++) {
        if (!row_has(s, k, l, role)) continue;
        size_t len = 0;
        buf[0] = 0;
        append_ranges(s, k, l, role, cs, buf, size, &len, 1);
        fprintf(f, "%s{\"level\": %d, \"frames\": [%s]}", first ? "" : ", ", l, buf);
        first = 0;
    }
    fputc(']', f);
}

mv_status mv_schedule_write_json(FILE *f, const mv_schedule *s, int context, int frames) {
    int cs0, nchunks, limit;
    MV_TRY(mv_rollout_chunks(s, context, frames, &cs0, &nchunks, &limit));
    size_t size = (size_t)s->N * 12 + 64;
    char *buf = malloc(size);
    if (!buf) return mv_fail(MV_ERR_NOMEM, "schedule: out of memory");
    fprintf(f, "{\"method\": \"%s\", \"levels\": %d, \"N\": %d, \"S\": %d, \"A\": %d, \"steps_per_chunk\": %d, "
            "\"context\": %d, \"frames\": %d, \"chunk_start\": %d, \"chunks\": %d, \"limit\": %d, "
            "\"tokens_per_step\": %d, \"tokens_per_frame\": [", mv_method_name(s->method), s->levels, s->N, s->S,
            s->A, s->nsteps, context, frames, cs0, nchunks, limit, s->tokens_per_step_max);
    for (int l = 0; l < s->levels; l++) fprintf(f, "%s%d", l ? ", " : "", s->tokens[l]);
    fprintf(f, "],\n \"steps\": [\n");
    for (int c = 0; c < nchunks; c++)
        for (int k = 0; k < s->nsteps; k++) {
            int cs = cs0 + c * s->A;
            fprintf(f, "  {\"chunk\": %d, \"step\": %d, \"target_level\": %d, \"tokens\": %d, \"denoised\": ", c,
                    k, s->steps[k].target_level, s->steps[k].tokens);
            json_role(f, s, k, cs, MV_ROLE_DENOISED, buf, size);
            fprintf(f, ", \"context\": ");
            json_role(f, s, k, cs, MV_ROLE_CONTEXT, buf, size);
            fprintf(f, "}%s\n", c == nchunks - 1 && k == s->nsteps - 1 ? "" : ",");
        }
    fprintf(f, " ]}\n");
    free(buf);
    return MV_OK;
}
