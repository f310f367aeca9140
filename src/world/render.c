/* First-person voxel raycaster: a 3-D DDA that jumps over empty space with the world's Chebyshev
 * distance field, textured and sun-shaded faces, distance fog into a sky gradient, 2x2 supersampling
 * box-filtered to the output size. Pinhole camera, MV_WORLD_FOV degrees, rows split over OpenMP. */
#include <math.h>

#include "core/core.h"
#include "world/world_internal.h"

#define H MV_WORLD_H
#define FOG_START (0.3f * (float)MV_WORLD_FOG)

static inline void sky_color(float dy, float rgb[3]) {
    float t = dy > 0 ? dy : 0;
    t = t > 1 ? 1 : t;
    rgb[0] = 190.0f + (96.0f - 190.0f) * t;
    rgb[1] = 216.0f + (146.0f - 216.0f) * t;
    rgb[2] = 250.0f + (232.0f - 250.0f) * t;
}

static inline float fracf(float v) { return v - floorf(v); }

static inline int texel(float u, float v) {
    int iu = (int)(u * WL_TEX), iv = (int)(v * WL_TEX);
    iu = iu < 0 ? 0 : iu > WL_TEX - 1 ? WL_TEX - 1 : iu;
    iv = iv < 0 ? 0 : iv > WL_TEX - 1 ? WL_TEX - 1 : iv;
    return iv * WL_TEX + iu;
}

typedef struct {
    int b;     /* block id, 0 = nothing within the fog distance (sky) */
    int side;  /* axis the ray crossed to enter the block, -1 if it started inside */
    int c[3];  /* the block's cell (x, z unwrapped relative to the origin) */
    float t;   /* distance along the unit ray */
} ray_hit;

/* Colour along unit direction d for a hit at distance t (or the sky when h->b == 0). */
static void shade(const mv_world *w, const ray_hit *h, const float o[3], const float d[3], float rgb[3]) {
    float sky[3];
    sky_color(d[1], sky);
    if (!h->b) {
        memcpy(rgb, sky, sizeof sky);
        return;
    }
    float t = h->t, p[3] = {o[0] + d[0] * t, o[1] + d[1] * t, o[2] + d[2] * t};
    int face, tx;
    if (h->side == 0) face = d[0] > 0 ? 3 : 2, tx = texel(fracf(p[2]), 1.0f - fracf(p[1]));
    else if (h->side == 2) face = d[2] > 0 ? 5 : 4, tx = texel(fracf(p[0]), 1.0f - fracf(p[1]));
    else face = (h->side == 1 && d[1] > 0) ? 1 : 0, tx = texel(fracf(p[0]), fracf(p[2]));
    const uint8_t *c = w->tex[h->b][face][tx];
    float f = (t - FOG_START) / ((float)MV_WORLD_FOG - FOG_START);
    f = f < 0 ? 0 : f > 1 ? 1 : f;
    f = f * f * (3.0f - 2.0f * f);
    for (int k = 0; k < 3; k++) rgb[k] = c[k] + (sky[k] - c[k]) * f;
}

static inline void dda_setup(const float o[3], const float d[3], float t0, int c[3], int step[3],
                             float td[3], float tm[3]) {
    for (int a = 0; a < 3; a++) {
        c[a] = (int)floorf(o[a] + d[a] * t0);
        step[a] = d[a] > 0 ? 1 : -1;
        float ad = fabsf(d[a]);
        td[a] = 1.0f / (ad > 1e-6f ? ad : 1e-6f);
        tm[a] = (step[a] > 0 ? (float)(c[a] + 1) - o[a] : o[a] - (float)c[a]) * td[a];
    }
}

/* Jumps from cell c across the empty cube of radius r around it (to where the ray leaves the cube);
 * returns the axis crossed and sets *t. */
static inline int dda_jump(const float o[3], const float d[3], int r, int c[3], const int step[3],
                           const float td[3], float tm[3], float *t) {
    float ex[3];
    for (int a = 0; a < 3; a++)
        ex[a] = (step[a] > 0 ? (float)(c[a] + r + 1) - o[a] : o[a] - (float)(c[a] - r)) * td[a];
    int side = ex[0] <= ex[1] && ex[0] <= ex[2] ? 0 : ex[1] <= ex[2] ? 1 : 2;
    *t = ex[side];
    for (int a = 0; a < 3; a++) {
        int lo = c[a] - r, hi = c[a] + r;
        if (a == side) {
            c[a] += step[a] * (r + 1);
        } else {
            int q = (int)floorf(o[a] + d[a] * *t);
            c[a] = q < lo ? lo : q > hi ? hi : q;
        }
        tm[a] = (step[a] > 0 ? (float)(c[a] + 1) - o[a] : o[a] - (float)c[a]) * td[a];
    }
    return side;
}

static inline int dda_step(int c[3], const int step[3], const float td[3], float tm[3], float *t) {
    int side;
    if (tm[0] < tm[1]) side = tm[0] < tm[2] ? 0 : 2;
    else side = tm[1] < tm[2] ? 1 : 2;
    *t = tm[side];
    c[side] += step[side];
    tm[side] += td[side];
    return side;
}

/* Traces one ray from o (x, z in [0, W)) along unit direction d, starting at distance t0 (the ray
 * must be in an empty cell there): a DDA that jumps across the empty cube around a cell whose
 * distance-field value allows it. */
static void trace(const mv_world *w, const float o[3], const float d[3], float t0, ray_hit *h) {
    const uint8_t *vox = w->vox;
    const float tfar = (float)MV_WORLD_FOG;
    int c[3], step[3], side = -1, b;
    float td[3], tm[3], t = t0;
    dda_setup(o, d, t0, c, step, td, tm);
    for (;;) {
        if (c[1] >= H) goto sky;
        if (c[1] < 0) {
            b = MV_B_STONE;
            goto hit;
        }
        uint8_t v = vox[wl_index(c[0], c[2], c[1])];
        b = v & 15;
        if (b) goto hit;
        int r = (v >> 4) - 1;
        side = r >= 1 ? dda_jump(o, d, r, c, step, td, tm, &t) : dda_step(c, step, td, tm, &t);
        if (t > tfar) goto sky;
    }
hit:
    h->b = b, h->side = side, h->t = t;
    memcpy(h->c, c, sizeof c);
    return;
sky:
    h->b = 0;
}

/* Cone test for the sub-rays of one pixel around the centre ray d, whose directions differ from d by
 * at most `spread` per axis: follows d while every visited cell has no solid block within one cell,
 * so every sub-ray is in empty cells at the same distance as long as spread * t < 1. Returns 1 if all
 * sub-rays reach the fog distance (or leave the world upwards: dymin > 0 is the smallest sub-ray
 * d_y) without a hit; otherwise 0 with *tsafe = a distance up to which all sub-rays are in air. */
static int trace_cone(const mv_world *w, const float o[3], const float d[3], float spread, float dymin,
                      float *tsafe) {
    const uint8_t *vox = w->vox;
    const float tfar = (float)MV_WORLD_FOG, tlim = spread > 0 ? 0.999f / spread : 1e30f;
    int c[3], step[3];
    float td[3], tm[3], t = 0;
    dda_setup(o, d, 0, c, step, td, tm);
    for (;;) {
        int dist;
        if (c[1] >= H + 1) {
            if (dymin > 0) return 1;
            dist = WL_DIST_CAP;
        } else if (c[1] < 0) {
            dist = 0;
        } else if (c[1] == H) {
            dist = 1; /* the layer above the world: no distance stored, stay careful */
        } else {
            dist = vox[wl_index(c[0], c[2], c[1])] >> 4;
        }
        if (dist <= 1 || t >= tlim) break;
        float tn;
        if (dist >= 3) dda_jump(o, d, dist - 2, c, step, td, tm, &tn);
        else dda_step(c, step, td, tm, &tn);
        if (tn > tfar) return tlim > tfar ? 1 : (*tsafe = t, 0);
        if (tn > tlim) break;
        t = tn;
    }
    *tsafe = t;
    return 0;
}

static inline int block_at(const mv_world *w, const int c[3]) {
    if (c[1] >= H) return MV_B_AIR;
    if (c[1] < 0) return MV_B_STONE;
    return w->vox[wl_index(c[0], c[2], c[1])] & 15;
}

/* Sub-ray k > 0 of a pixel: where it meets the plane of the face that sub-ray 0 hit, if that spot is
 * a visible face of the same or a neighbouring block (solid, with air in front), take it as the hit
 * without a traversal. Only an occluder that sub-ray 0 missed could differ: a sub-pixel effect at
 * silhouettes. Otherwise trace it from tsafe. */
static void trace_near(const mv_world *w, const ray_hit *p, const float o[3], const float d[3], float tsafe,
                       ray_hit *h) {
    int s = p->side;
    if (p->b && s >= 0 && d[s] != 0.0f) {
        float plane = (float)(d[s] > 0 ? p->c[s] : p->c[s] + 1);
        float t = (plane - o[s]) / d[s];
        if (t > tsafe && t <= (float)MV_WORLD_FOG) {
            int q[3], same = 1;
            for (int a = 0; a < 3; a++) {
                q[a] = a == s ? p->c[a] : (int)floorf(o[a] + d[a] * t);
                same &= q[a] == p->c[a];
            }
            int b = same ? p->b : block_at(w, q);
            if (!same && b) {
                int f[3] = {q[0], q[1], q[2]};
                f[s] -= d[s] > 0 ? 1 : -1;
                if (block_at(w, f)) b = 0;
            }
            if (b) {
                h->b = b, h->side = s, h->t = t;
                memcpy(h->c, q, sizeof q);
                return;
            }
        }
    }
    trace(w, o, d, tsafe, h);
}

void mv_world_render(const mv_world *w, double x, double y, double z, double yaw_deg, double pitch_deg,
                     int size, uint8_t *rgb) {
    const double deg = M_PI / 180.0;
    double cy = cos(yaw_deg * deg), sy = sin(yaw_deg * deg), cp = cos(pitch_deg * deg), sp = sin(pitch_deg * deg);
    /* forward, right and up of the camera (Minecraft yaw: 0 looks along +z, 90 along -x) */
    const float fw[3] = {(float)(-sy * cp), (float)sp, (float)(cy * cp)};
    const float rt[3] = {(float)-cy, 0.0f, (float)-sy};
    const float up[3] = {(float)(sy * sp), (float)cp, (float)(-cy * sp)};
    const float o[3] = {(float)(x - floor(x / MV_WORLD_W) * MV_WORLD_W), (float)(y + 1.6),
                        (float)(z - floor(z / MV_WORLD_W) * MV_WORLD_W)};
    const int ss = 2, n = size * ss;
    const float th = (float)tan(0.5 * MV_WORLD_FOV * deg);
#pragma omp parallel for schedule(dynamic, 1)
    for (int row = 0; row < size; row++) {
        uint8_t *out = rgb + (size_t)row * size * 3;
        for (int col = 0; col < size; col++) {
            float acc[3] = {0, 0, 0}, sub[4][3], dc[3], spread = 0, dymin = 1;
            float vc = (1.0f - 2.0f * ((float)row + 0.5f) / (float)size) * th;
            float uc = (2.0f * ((float)col + 0.5f) / (float)size - 1.0f) * th;
            for (int a = 0; a < 3; a++) dc[a] = fw[a] + uc * rt[a] + vc * up[a];
            float ic = 1.0f / sqrtf(dc[0] * dc[0] + dc[1] * dc[1] + dc[2] * dc[2]);
            for (int a = 0; a < 3; a++) dc[a] *= ic;
            for (int k = 0; k < ss * ss; k++) {
                float v = (1.0f - 2.0f * ((float)(row * ss + k / ss) + 0.5f) / (float)n) * th;
                float u = (2.0f * ((float)(col * ss + k % ss) + 0.5f) / (float)n - 1.0f) * th;
                for (int a = 0; a < 3; a++) sub[k][a] = fw[a] + u * rt[a] + v * up[a];
                float inv = 1.0f / sqrtf(sub[k][0] * sub[k][0] + sub[k][1] * sub[k][1] + sub[k][2] * sub[k][2]);
                for (int a = 0; a < 3; a++) {
                    sub[k][a] *= inv;
                    float e = fabsf(sub[k][a] - dc[a]);
                    spread = e > spread ? e : spread;
                }
                dymin = sub[k][1] < dymin ? sub[k][1] : dymin;
            }
            spread *= 1.01f; /* margin for rounding */
            float tsafe = 0;
            int sky = trace_cone(w, o, dc, spread, dymin, &tsafe);
            ray_hit first = {0, -1, {0, 0, 0}, 0};
            for (int k = 0; k < ss * ss; k++) {
                ray_hit h = {0, -1, {0, 0, 0}, 0};
                float c[3];
                if (!sky && k == 0) trace(w, o, sub[k], tsafe, &first), h = first;
                else if (!sky) trace_near(w, &first, o, sub[k], tsafe, &h);
                shade(w, &h, o, sub[k], c);
                for (int a = 0; a < 3; a++) acc[a] += c[a];
            }
            for (int a = 0; a < 3; a++) {
                float val = acc[a] * (1.0f / (ss * ss)) + 0.5f;
                out[col * 3 + a] = (uint8_t)(val > 255.0f ? 255.0f : val < 0.0f ? 0.0f : val);
            }
        }
    }
}
