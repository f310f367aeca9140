/* The walking agent (box collision, auto-jump, gravity) and the paper's random-walk policy:
 * bundles for the train split, Chamfer-scored loop-biased walks for the test split. */
#include <math.h>

#include "core/core.h"
#include "world/world_internal.h"

#define HALF_W 0.3
#define HEIGHT 1.8
#define SPEED 0.2
#define GRAVITY 0.08
#define DRAG 0.98
#define JUMP_V 0.42
#define EPS 1e-7

/* ---------------- agent ---------------- */
int mv_agent_collides(const mv_world *w, double x, double y, double z) {
    int x0 = (int)floor(x - HALF_W + EPS), x1 = (int)floor(x + HALF_W - EPS);
    int z0 = (int)floor(z - HALF_W + EPS), z1 = (int)floor(z + HALF_W - EPS);
    int y0 = (int)floor(y + EPS), y1 = (int)floor(y + HEIGHT - EPS);
    for (int bx = x0; bx <= x1; bx++)
        for (int bz = z0; bz <= z1; bz++)
            for (int by = y0; by <= y1; by++)
                if (mv_world_block(w, bx, by, bz) != MV_B_AIR) return 1;
    return 0;
}

void mv_agent_reset(mv_agent *a, const mv_world *w) {
    memset(a, 0, sizeof *a);
    mv_world_spawn(w, &a->x, &a->y, &a->z);
    a->yaw = 0;
    a->pitch = MV_WORLD_PITCH;
    a->on_ground = 1;
}

/* A one-block step ahead: blocked now, free one block higher (room to jump). */
static int step_ahead(const mv_world *w, const mv_agent *a, double nx, double nz) {
    double top = floor(a->y + EPS) + 1.0;
    return !mv_agent_collides(w, nx, top, nz) && !mv_agent_collides(w, a->x, top, a->z);
}

static void move_horizontal(mv_agent *a, const mv_world *w, double dx, double dz) {
    int blocked = 0;
    if (!mv_agent_collides(w, a->x + dx, a->y, a->z)) a->x += dx;
    else blocked |= step_ahead(w, a, a->x + dx, a->z);
    if (!mv_agent_collides(w, a->x, a->y, a->z + dz)) a->z += dz;
    else blocked |= step_ahead(w, a, a->x, a->z + dz);
    if (blocked && a->on_ground) a->vy = JUMP_V; /* auto-jump up a one-block step */
}

/* Minecraft order: move by the current vertical speed, then apply gravity and drag. */
static void move_vertical(mv_agent *a, const mv_world *w) {
    double ny = a->y + a->vy;
    if (!mv_agent_collides(w, a->x, ny, a->z)) {
        a->y = ny;
    } else {
        if (a->vy < 0) { /* land on top of the block below */
            double land = floor(ny + EPS) + 1.0;
            if (!mv_agent_collides(w, a->x, land, a->z)) a->y = land;
        }
        a->vy = 0;
    }
    a->on_ground = mv_agent_collides(w, a->x, a->y - 0.01, a->z);
    if (a->on_ground && a->vy <= 0) a->vy = 0;
    else a->vy = MV_MAX((a->vy - GRAVITY) * DRAG, -0.9);
}

void mv_agent_step(mv_agent *a, const mv_world *w, int action) {
    if (action == MV_ACT_LEFT) {
        a->yaw -= MV_WORLD_TURN;
        return;
    }
    if (action == MV_ACT_RIGHT) {
        a->yaw += MV_WORLD_TURN;
        return;
    }
    double r = a->yaw * (M_PI / 180.0);
    move_horizontal(a, w, -sin(r) * SPEED, cos(r) * SPEED);
    move_vertical(a, w);
}

/* ---------------- policy ---------------- */
int mv_policy_bundle(mv_rng *r, uint8_t out[MV_BUNDLE_MAX]) {
    static const double cum[4] = {0.1, 0.4, 0.5, 1.0};
    double u = mv_rng_uniform1(r);
    int k = 1;
    while (k < 4 && u >= cum[k - 1]) k++;
    int nf = k + (int)mv_rng_below(r, (uint32_t)(2 * k));
    int dir = mv_rng_below(r, 2) ? MV_ACT_RIGHT : MV_ACT_LEFT;
    uint8_t *body = out + 1;
    int n = k + nf;
    for (int i = 0; i < n; i++) body[i] = i < k ? (uint8_t)dir : MV_ACT_FORWARD;
    for (int i = n - 1; i > 0; i--) { /* Fisher-Yates */
        int j = (int)mv_rng_below(r, (uint32_t)(i + 1));
        uint8_t t = body[i];
        body[i] = body[j];
        body[j] = t;
    }
    out[0] = MV_ACT_FORWARD;
    return n + 1;
}

void mv_policy_train(mv_rng *r, int T, uint8_t *actions) {
    int t = 0;
    uint8_t b[MV_BUNDLE_MAX];
    while (t < T) {
        int n = mv_policy_bundle(r, b);
        for (int i = 0; i < n && t < T; i++)
            for (int k = 0; k < MV_WORLD_HOLD && t < T; k++) actions[t++] = b[i];
    }
}

void mv_policy_turtle(const uint8_t *actions, int T, float *pos) {
    double x = 0, y = 0, h = 0;
    pos[0] = 0, pos[1] = 0;
    for (int i = 0; i < T; i++) {
        if (actions[i] == MV_ACT_LEFT) h -= MV_WORLD_TURN;
        else if (actions[i] == MV_ACT_RIGHT) h += MV_WORLD_TURN;
        else {
            x += cos(h * (M_PI / 180.0));
            y += sin(h * (M_PI / 180.0));
        }
        pos[2 * (i + 1)] = (float)x, pos[2 * (i + 1) + 1] = (float)y;
    }
}

static double nearest_mean(const float *a, int na, const float *b, int nb) {
    double sum = 0;
    for (int i = 0; i < na; i++) {
        float best = INFINITY;
        for (int j = 0; j < nb; j++) {
            float dx = a[2 * i] - b[2 * j], dy = a[2 * i + 1] - b[2 * j + 1], d = dx * dx + dy * dy;
            best = d < best ? d : best;
        }
        sum += sqrt((double)best);
    }
    return na ? sum / na : 0;
}

double mv_chamfer2d(const float *a, int na, const float *b, int nb) {
    if (na == 0 || nb == 0) return 0;
    return nearest_mean(a, na, b, nb) + nearest_mean(b, nb, a, na);
}

double mv_policy_loop_score(const uint8_t *actions, int T, int context) {
    float *pos = malloc(sizeof(float) * 2 * (size_t)(T + 1));
    if (!pos) return INFINITY;
    mv_policy_turtle(actions, T, pos);
    int c = context < T + 1 ? context : T + 1;
    double s = mv_chamfer2d(pos, c, pos + 2 * c, T + 1 - c);
    free(pos);
    return s;
}

typedef struct {
    double score;
    int index;
} scored;

static int scored_cmp(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? -1 : 1;
    return x->index - y->index;
}

mv_status mv_policy_test(mv_rng *r, int T, int context, int candidates, double keep_fraction,
                         uint8_t *actions) {
    if (candidates < 1 || keep_fraction <= 0 || keep_fraction > 1)
        return mv_fail(MV_ERR_ARG, "world: --candidates must be >= 1 and --keep-fraction in (0, 1]");
    uint8_t *all = malloc((size_t)candidates * T);
    scored *sc = malloc(sizeof(scored) * (size_t)candidates);
    mv_status st = MV_OK;
    if (!all || !sc) {
        st = mv_fail(MV_ERR_NOMEM, "world: out of memory for %d candidate walks", candidates);
        goto fail;
    }
    for (int c = 0; c < candidates; c++) mv_policy_train(r, T, all + (size_t)c * T);
#pragma omp parallel for schedule(dynamic, 1)
    for (int c = 0; c < candidates; c++) {
        sc[c].score = mv_policy_loop_score(all + (size_t)c * T, T, context);
        sc[c].index = c;
    }
    qsort(sc, (size_t)candidates, sizeof *sc, scored_cmp);
    int keep = (int)ceil(keep_fraction * candidates - 1e-9);
    keep = keep < 1 ? 1 : keep > candidates ? candidates : keep;
    int pick = sc[mv_rng_below(r, (uint32_t)keep)].index;
    memcpy(actions, all + (size_t)pick * T, (size_t)T);
fail:
    free(all);
    free(sc);
    return st;
}
