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

/* DDA state in scalars (no indexed arrays, so it stays in registers). */
typedef struct {
    int cx, cy, cz, sx, sy, sz;
    float ox, oy, oz, dx, dy, dz, tdx, tdy, tdz, tmx, tmy, tmz;
} dda;

static inline float dda_next(int c, int s, float o, float td) {
    return (s > 0 ? (float)(c + 1) - o : o - (float)c) * td;
}

static inline void dda_axis(int *c, int *s, float *td, float *tm, float o, float d, float t0) {
    *c = (int)floorf(o + d * t0);
    *s = d > 0 ? 1 : -1;
    float ad = fabsf(d);
    *td = 1.0f / (ad > 1e-6f ? ad : 1e-6f);
    *tm = dda_next(*c, *s, o, *td);
}

static inline void dda_setup(dda *q, const float o[3], const float d[3], float t0) {
    q->ox = o[0], q->oy = o[1], q->oz = o[2], q->dx = d[0], q->dy = d[1], q->dz = d[2];
    dda_axis(&q->cx, &q->sx, &q->tdx, &q->tmx, o[0], d[0], t0);
    dda_axis(&q->cy, &q->sy, &q->tdy, &q->tmy, o[1], d[1], t0);
    dda_axis(&q->cz, &q->sz, &q->tdz, &q->tmz, o[2], d[2], t0);
}

static inline float dda_exit(int c, int s, float o, float td, int r) {
    return (s > 0 ? (float)(c + r + 1) - o : o - (float)(c - r)) * td;
}

/* Cell along one axis after a jump to distance t: the crossed axis moves r + 1, the others take the
 * cell of the ray point, clamped into the cube. */
static inline void dda_land(int *c, int s, float o, float d, float td, float *tm, int r, int crossed, float t) {
    if (crossed) {
        *c += s * (r + 1);
    } else {
        int q = (int)floorf(o + d * t), lo = *c - r, hi = *c + r;
        *c = q < lo ? lo : q > hi ? hi : q;
    }
    *tm = dda_next(*c, s, o, td);
}

/* Jumps from the current cell across the empty box of radius r in x and z and ry in y around it;
 * returns the axis crossed. */
static inline int dda_jump(dda *q, int r, int ry, float *t) {
    float ex = dda_exit(q->cx, q->sx, q->ox, q->tdx, r), ey = dda_exit(q->cy, q->sy, q->oy, q->tdy, ry);
    float ez = dda_exit(q->cz, q->sz, q->oz, q->tdz, r);
    int side = ex <= ey && ex <= ez ? 0 : ey <= ez ? 1 : 2;
    *t = side == 0 ? ex : side == 1 ? ey : ez;
    dda_land(&q->cx, q->sx, q->ox, q->dx, q->tdx, &q->tmx, r, side == 0, *t);
    dda_land(&q->cy, q->sy, q->oy, q->dy, q->tdy, &q->tmy, ry, side == 1, *t);
    dda_land(&q->cz, q->sz, q->oz, q->dz, q->tdz, &q->tmz, r, side == 2, *t);
    return side;
}

static inline int dda_step(dda *q, float *t) {
    if (q->tmx < q->tmy) {
        if (q->tmx < q->tmz) {
            *t = q->tmx, q->cx += q->sx, q->tmx += q->tdx;
            return 0;
        }
    } else if (q->tmy < q->tmz) {
        *t = q->tmy, q->cy += q->sy, q->tmy += q->tdy;
        return 1;
    }
    *t = q->tmz, q->cz += q->sz, q->tmz += q->tdz;
    return 2;
}

/* Traces one ray from o (x, z in [0, W)) along unit direction d, starting at distance t0 (the ray
 * must be in an empty cell there): a DDA that jumps across the empty cube around a cell whose
 * distance-field value allows it. */
static void trace(const mv_world *w, const float o[3], const float d[3], float t0, ray_hit *h) {
    const uint8_t *vox = w->vox;
    const float tfar = (float)MV_WORLD_FOG;
    int side = -1, b;
    float t = t0;
    dda q;
    dda_setup(&q, o, d, t0);
    for (;;) {
        if ((unsigned)q.cy >= (unsigned)H) {
            if (q.cy >= H) goto sky;
            b = MV_B_STONE;
            goto hit;
        }
        uint8_t v = vox[wl_index(q.cx, q.cz, q.cy)];
        b = v & 15;
        if (b) goto hit;
        int r = (v >> 4) - 1;
        side = r >= 1 ? dda_jump(&q, r, r, &t) : dda_step(&q, &t);
        if (t > tfar) goto sky;
    }
hit:
    h->b = b, h->side = side, h->t = t;
    h->c[0] = q.cx, h->c[1] = q.cy, h->c[2] = q.cz;
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
    float t = 0;
    dda q;
    dda_setup(&q, o, d, 0);
    for (;;) {
        int dist;
        if (q.cy >= H + 1) {
            if (dymin > 0) return 1;
            dist = WL_DIST_CAP;
        } else if (q.cy < 0) {
            dist = 0;
        } else if (q.cy == H) {
            dist = 1; /* the layer above the world: no distance stored, stay careful */
        } else {
            dist = vox[wl_index(q.cx, q.cz, q.cy)] >> 4;
        }
        if (dist <= 1) break;
        float tn;
        if (dist >= 3) dda_jump(&q, dist - 2, dist - 2, &tn);
        else dda_step(&q, &tn);
        if (tn > tfar && tlim > tfar) return 1;
        if (tn > tlim || tn > tfar) break;
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

/* Sub-ray d of a pixel: where it meets the plane of a face that an earlier sub-ray p hit, if that
 * spot is a visible face of the same or a neighbouring block (solid, with air in front), take it as
 * the hit without a traversal (returns 1). Only an occluder that sub-ray p missed could differ: a
 * sub-pixel effect at silhouettes. */
static int reuse_face(const mv_world *w, const ray_hit *p, const float o[3], const float d[3], float tsafe,
                      ray_hit *h) {
    int s = p->side;
    if (!p->b || s < 0 || d[s] == 0.0f) return 0;
    float plane = (float)(d[s] > 0 ? p->c[s] : p->c[s] + 1);
    float t = (plane - o[s]) / d[s];
    if (!(t > tsafe && t <= (float)MV_WORLD_FOG)) return 0;
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
    if (!b) return 0;
    h->b = b, h->side = s, h->t = t;
    memcpy(h->c, q, sizeof q);
    return 1;
}

typedef struct {
    float o[3];              /* eye, x and z wrapped into [0, W) */
    float fw[3], rt[3], up[3]; /* camera forward, right, up */
    float th;                /* tan(fov / 2) */
    int size;
} camera;

/* Unit direction through image position (u, v) in [0, 1)^2, v down. */
static inline void camera_ray(const camera *cam, float u, float v, float d[3]) {
    float x = (2.0f * u - 1.0f) * cam->th, y = (1.0f - 2.0f * v) * cam->th;
    for (int a = 0; a < 3; a++) d[a] = cam->fw[a] + x * cam->rt[a] + y * cam->up[a];
    float inv = 1.0f / sqrtf(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
    for (int a = 0; a < 3; a++) d[a] *= inv;
}

/* One output pixel: the average of 2x2 sub-rays. A cone test along the pixel centre first proves
 * where all four are still in air (or that all four see sky); then sub-ray 0 is traced from there and
 * each other one reuses the face of an earlier traced sub-ray when it lands on the same surface. */
static void render_pixel(const mv_world *w, const camera *cam, int row, int col, uint8_t out[3]) {
    const int ss = 2;
    const float n = (float)(cam->size * ss), px = 1.0f / (float)cam->size;
    float acc[3] = {0, 0, 0}, sub[4][3], dc[3], spread = 0, dymin = 1, tsafe = 0;
    camera_ray(cam, ((float)col + 0.5f) * px, ((float)row + 0.5f) * px, dc);
    for (int k = 0; k < ss * ss; k++) {
        camera_ray(cam, ((float)(col * ss + k % ss) + 0.5f) / n, ((float)(row * ss + k / ss) + 0.5f) / n, sub[k]);
        for (int a = 0; a < 3; a++) {
            float e = fabsf(sub[k][a] - dc[a]);
            spread = e > spread ? e : spread;
        }
        dymin = sub[k][1] < dymin ? sub[k][1] : dymin;
    }
    int sky = trace_cone(w, cam->o, dc, spread * 1.01f /* rounding margin */, dymin, &tsafe);
    ray_hit traced[4];
    int nt = 0;
    for (int k = 0; k < ss * ss; k++) {
        ray_hit h = {0, -1, {0, 0, 0}, 0};
        float c[3];
        if (!sky) {
            int done = 0;
            for (int j = 0; j < nt && !done; j++) done = reuse_face(w, &traced[j], cam->o, sub[k], tsafe, &h);
            if (!done) trace(w, cam->o, sub[k], tsafe, &h), traced[nt++] = h;
        }
        shade(w, &h, cam->o, sub[k], c);
        for (int a = 0; a < 3; a++) acc[a] += c[a];
    }
    for (int a = 0; a < 3; a++) {
        float val = acc[a] * (1.0f / (ss * ss)) + 0.5f;
        out[a] = (uint8_t)(val > 255.0f ? 255.0f : val < 0.0f ? 0.0f : val);
    }
}

static void camera_init(camera *cam, double x, double y, double z, double yaw_deg, double pitch_deg, int size) {
    const double deg = M_PI / 180.0;
    double cy = cos(yaw_deg * deg), sy = sin(yaw_deg * deg), cp = cos(pitch_deg * deg), sp = sin(pitch_deg * deg);
    /* Minecraft yaw: 0 looks along +z, 90 along -x; right = (-cos yaw, 0, -sin yaw) */
    camera c = {{(float)(x - floor(x / MV_WORLD_W) * MV_WORLD_W), (float)(y + 1.6),
                 (float)(z - floor(z / MV_WORLD_W) * MV_WORLD_W)},
                {(float)(-sy * cp), (float)sp, (float)(cy * cp)},
                {(float)-cy, 0.0f, (float)-sy},
                {(float)(sy * sp), (float)cp, (float)(-cy * sp)},
                (float)tan(0.5 * MV_WORLD_FOV * deg),
                size};
    *cam = c;
}

void mv_world_render(const mv_world *w, double x, double y, double z, double yaw_deg, double pitch_deg,
                     int size, uint8_t *rgb) {
    camera cam;
    camera_init(&cam, x, y, z, yaw_deg, pitch_deg, size);
#pragma omp parallel for schedule(dynamic, 1)
    for (int row = 0; row < size; row++)
        for (int col = 0; col < size; col++)
            render_pixel(w, &cam, row, col, rgb + ((size_t)row * size + col) * 3);
}

mv_status mv_world_render_batch(const mv_world *w, const float *poses, int n, int size, uint8_t *rgb) {
    camera *cams = malloc(sizeof(camera) * (size_t)(n > 0 ? n : 1));
    if (!cams) return mv_fail(MV_ERR_NOMEM, "world: out of memory for %d cameras", n);
    for (int f = 0; f < n; f++) {
        const float *q = poses + (size_t)f * 6;
        camera_init(&cams[f], q[1], q[2], q[3], q[4], q[5], size);
    }
    long rows = (long)n * size;
#pragma omp parallel for schedule(dynamic, 1)
    for (long i = 0; i < rows; i++) {
        int f = (int)(i / size), row = (int)(i % size);
        uint8_t *out = rgb + ((size_t)f * size + row) * size * 3;
        for (int col = 0; col < size; col++) render_pixel(w, &cams[f], row, col, out + (size_t)col * 3);
    }
    free(cams);
    return MV_OK;
}
