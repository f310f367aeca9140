/* World generation: tileable value-noise terrain, water at sea level, trees, coloured landmarks,
 * a spawn point, and the empty-space distance field the renderer uses to skip air. */
#include <math.h>

#include "core/core.h"
#include "world/world_internal.h"

#define W MV_WORLD_W
#define H MV_WORLD_H

/* ---------------- noise ---------------- */
static float lattice(uint32_t seed, int octave, int ix, int iz) {
    return wl_hash01(seed, ((uint64_t)octave << 40) | ((uint64_t)ix << 20) | (uint64_t)iz);
}

static float smooth(float t) { return t * t * (3.0f - 2.0f * t); }

/* Adds amp * value noise (lattice spacing `cell`, a divisor of W, periodic over W) to out. */
static void noise_add(float *out /* [W (x), W (z)] */, uint32_t seed, int octave, int cell, float amp) {
    int per = W / cell;
    float lat[64 * 64]; /* [per, per] */
    MV_ASSERT(per <= 64);
    for (int i = 0; i < per; i++)
        for (int k = 0; k < per; k++) lat[i * per + k] = lattice(seed, octave, i, k);
    for (int x = 0; x < W; x++)
        for (int z = 0; z < W; z++) {
            int ix = x / cell, iz = z / cell, ix1 = (ix + 1) % per, iz1 = (iz + 1) % per;
            float fx = smooth((float)(x % cell) / cell), fz = smooth((float)(z % cell) / cell);
            float a = lat[ix * per + iz], b = lat[ix1 * per + iz], c = lat[ix * per + iz1], d = lat[ix1 * per + iz1];
            out[x * W + z] += amp * ((a + (b - a) * fx) * (1 - fz) + (c + (d - c) * fx) * fz);
        }
}

/* Fractal value noise in [0, 1]: octaves of spacing 64, 32, 16, 8, 4 with halving amplitudes. */
static void fbm_map(float *out /* [W, W] */, uint32_t seed) {
    float amp = 1, norm = 0;
    memset(out, 0, sizeof(float) * W * W);
    for (int o = 0, cell = 64; cell >= 4; o++, cell /= 2, amp *= 0.5f) {
        noise_add(out, seed, o, cell, amp);
        norm += amp;
    }
    for (int i = 0; i < W * W; i++) out[i] /= norm;
}

/* ---------------- cells ---------------- */
static void put(mv_world *w, int x, int y, int z, int b) {
    if (y >= 0 && y < H) w->vox[wl_index(x, z, y)] = (uint8_t)b;
}
static int get(const mv_world *w, int x, int y, int z) {
    if (y < 0) return MV_B_STONE;
    if (y >= H) return MV_B_AIR;
    return w->vox[wl_index(x, z, y)] & 15;
}

static void terrain_columns(mv_world *w, const float *height /* [W, W] */, const float *hills /* [W, W] */) {
    for (int x = 0; x < W; x++)
        for (int z = 0; z < W; z++) {
            float n = height[x * W + z];
            float hf = MV_WORLD_SEA + (n - 0.42f) * 55.0f * (0.6f + 0.8f * hills[x * W + z]);
            int h = (int)floorf(hf);
            h = h < 4 ? 4 : h > 44 ? 44 : h;
            for (int y = 0; y <= h; y++) {
                int b = y < h - 3 ? MV_B_STONE : y < h ? MV_B_DIRT : MV_B_GRASS;
                if (h <= MV_WORLD_SEA + 1 && y >= h - 2) b = MV_B_SAND;
                if (h > 38 && y == h) b = MV_B_STONE;
                put(w, x, y, z, b);
            }
            for (int y = h + 1; y <= MV_WORLD_SEA; y++) put(w, x, y, z, MV_B_WATER);
        }
}

static void tree_place(mv_world *w, int x, int z, int h, float r) {
    int trunk = 4 + (int)(r * 3.0f);
    for (int y = h + 1; y <= h + trunk; y++) put(w, x, y, z, MV_B_LOG);
    int top = h + trunk;
    for (int y = top - 2; y <= top + 1; y++) {
        int rad = y <= top - 1 ? 2 : 1;
        for (int dx = -rad; dx <= rad; dx++)
            for (int dz = -rad; dz <= rad; dz++) {
                int corner = abs(dx) == rad && abs(dz) == rad;
                if (corner && (rad == 1 || wl_hash01(w->seed + 7, ((uint64_t)(x + dx) << 24) ^ ((uint64_t)(z + dz) << 8) ^ (uint64_t)y) < 0.5f))
                    continue;
                if (get(w, x + dx, y, z + dz) == MV_B_AIR) put(w, x + dx, y, z + dz, MV_B_LEAVES);
            }
    }
}

static void terrain_trees(mv_world *w, const float *density /* [W, W] */) {
    for (int x = 0; x < W; x++)
        for (int z = 0; z < W; z++) {
            int h = w->ground[x * W + z];
            if (get(w, x, h, z) != MV_B_GRASS) continue;
            float r = wl_hash01(w->seed + 1, (uint64_t)x * W + z);
            /* density varies over the map: forests and open meadows */
            float dens = 0.004f + 0.05f * smooth(density[x * W + z]);
            if (r >= dens) continue;
            int clear = 1;
            for (int dx = -2; dx <= 2 && clear; dx++)
                for (int dz = -2; dz <= 2; dz++)
                    if (get(w, x + dx, h + 1, z + dz) != MV_B_AIR || get(w, x + dx, h + 2, z + dz) != MV_B_AIR) {
                        clear = 0;
                        break;
                    }
            if (clear) tree_place(w, x, z, h, r / dens);
        }
}

/* Recomputes the ground height of columns [x0, x0+n) x [z0, z0+n) (wrapping). */
static void ground_update_rect(mv_world *w, int x0, int z0, int n) {
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            int x = (x0 + i) & WL_MASK, z = (z0 + k) & WL_MASK, y = H - 1;
            const uint8_t *col = w->vox + wl_index(x, z, 0);
            while (y > 0 && !(col[y] & 15)) y--;
            w->ground[x * W + z] = (uint8_t)y;
        }
}

static void ground_update(mv_world *w) { ground_update_rect(w, 0, 0, W); }

/* ---------------- landmarks ---------------- */
static const int wool[] = {MV_B_WOOL_RED, MV_B_WOOL_YELLOW, MV_B_WOOL_BLUE, MV_B_WOOL_MAGENTA,
                           MV_B_WOOL_WHITE, MV_B_WOOL_ORANGE};

/* Levels the footprint [x0, x0+sx) x [z0, z0+sz) (plus a 1-block margin) to height base. */
static void site_prepare(mv_world *w, int x0, int z0, int sx, int sz, int base) {
    for (int x = x0 - 1; x <= x0 + sx; x++)
        for (int z = z0 - 1; z <= z0 + sz; z++) {
            for (int y = base + 1; y < H; y++) put(w, x, y, z, MV_B_AIR);
            for (int y = w->ground[(x & WL_MASK) * W + (z & WL_MASK)]; y < base; y++)
                if (get(w, x, y, z) == MV_B_AIR || get(w, x, y, z) == MV_B_WATER) put(w, x, y, z, MV_B_STONE);
            put(w, x, base, z, MV_B_GRASS);
        }
}

static void build_tower(mv_world *w, int x0, int z0, int base, uint32_t r) {
    int a = wool[r % 6], b = wool[(r / 6 + 1 + r % 6) % 6], height = 12 + (int)(r % 7);
    if (b == a) b = MV_B_WOOL_WHITE;
    site_prepare(w, x0, z0, 3, 3, base);
    for (int y = base + 1; y <= base + height; y++)
        for (int dx = 0; dx < 3; dx++)
            for (int dz = 0; dz < 3; dz++) put(w, x0 + dx, y, z0 + dz, (y - base) % 5 == 0 ? b : a);
    for (int dx = -1; dx <= 3; dx++)
        for (int dz = -1; dz <= 3; dz++)
            if (dx == -1 || dx == 3 || dz == -1 || dz == 3)
                if ((dx + dz) % 2 == 0) put(w, x0 + dx, base + height + 1, z0 + dz, b);
    put(w, x0 + 1, base + height + 1, z0 + 1, b);
    put(w, x0 + 1, base + height + 2, z0 + 1, b);
}

static void build_house(mv_world *w, int x0, int z0, int base, uint32_t r) {
    int sx = 7, sz = 5, wall = 4, roof = (r & 1) ? MV_B_BRICK : wool[(r >> 1) % 6];
    site_prepare(w, x0, z0, sx, sz, base);
    for (int y = base + 1; y <= base + wall; y++)
        for (int dx = 0; dx < sx; dx++)
            for (int dz = 0; dz < sz; dz++) {
                int edge = dx == 0 || dx == sx - 1 || dz == 0 || dz == sz - 1;
                if (!edge) continue;
                int corner = (dx == 0 || dx == sx - 1) && (dz == 0 || dz == sz - 1);
                int door = dz == 0 && dx == sx / 2 && y <= base + 2;
                int window = y == base + 2 && (dx == 1 || dx == sx - 2) && (dz == 0 || dz == sz - 1);
                if (door || window) continue;
                put(w, x0 + dx, y, z0 + dz, corner ? MV_B_LOG : MV_B_PLANKS);
            }
    for (int k = 0; k <= sz / 2 + 1; k++) /* stepped gable roof along x */
        for (int dx = -1; dx <= sx; dx++) {
            put(w, x0 + dx, base + wall + 1 + k, z0 - 1 + k, roof);
            put(w, x0 + dx, base + wall + 1 + k, z0 + sz - k, roof);
        }
}

static void build_pyramid(mv_world *w, int x0, int z0, int base, uint32_t r) {
    int a = wool[r % 6], b = wool[(r % 6 + 3) % 6];
    site_prepare(w, x0, z0, 9, 9, base);
    for (int k = 0; k < 5; k++)
        for (int dx = k; dx < 9 - k; dx++)
            for (int dz = k; dz < 9 - k; dz++) put(w, x0 + dx, base + 1 + k, z0 + dz, k % 2 ? b : a);
    for (int y = base + 6; y <= base + 12; y++) put(w, x0 + 4, y, z0 + 4, b);
}

static void landmark_at(mv_world *w, int x, int z, uint32_t r) {
    int base = w->ground[(x & WL_MASK) * W + (z & WL_MASK)];
    if (base < MV_WORLD_SEA + 1) base = MV_WORLD_SEA + 1;
    if (base > 40) base = 40;
    switch (r % 4) { /* half towers, a quarter houses, a quarter pyramids */
    case 0:
    case 1: build_tower(w, x, z, base, r / 4); break;
    case 2: build_house(w, x, z, base, r / 4); break;
    default: build_pyramid(w, x, z, base, r / 4); break;
    }
    w->landmarks++;
    ground_update_rect(w, x - 2, z - 2, 14);
}

/* One landmark near the spawn (ahead, off to the side) and one per 42-block cell of a 6x6 grid. */
static void terrain_landmarks(mv_world *w) {
    int sx = w->spawn_x, sz = w->spawn_z;
    landmark_at(w, sx + 8, sz + 15, (uint32_t)(wl_hash01(w->seed + 3, 0) * 3000) * 4); /* a tower */
    for (int i = 0; i < 36; i++) {
        int cx = (i % 6) * 42 + 6, cz = (i / 6) * 42 + 6;
        float u = wl_hash01(w->seed + 4, 2 * i), v = wl_hash01(w->seed + 4, 2 * i + 1);
        int x = cx + (int)(u * 24), z = cz + (int)(v * 24);
        int dx = abs(((x - sx + W / 2) & WL_MASK) - W / 2), dz = abs(((z - sz + W / 2) & WL_MASK) - W / 2);
        if (dx < 12 && dz < 12) continue; /* keep the spawn area open */
        if (w->ground[x * W + z] <= MV_WORLD_SEA && (i % 2)) continue; /* few in the water */
        landmark_at(w, x, z, (uint32_t)(wl_hash01(w->seed + 5, i) * 3000000));
    }
}

/* ---------------- spawn ---------------- */
static int spawn_ok(const mv_world *w, int x, int z) {
    int h = w->ground[(x & WL_MASK) * W + (z & WL_MASK)];
    if (h <= MV_WORLD_SEA || h > 40 || get(w, x, h, z) != MV_B_GRASS) return 0;
    for (int dx = -3; dx <= 3; dx++)
        for (int dz = -3; dz <= 3; dz++) {
            int g = w->ground[((x + dx) & WL_MASK) * W + ((z + dz) & WL_MASK)];
            if (abs(g - h) > 1) return 0;
            for (int y = h + 1; y <= h + 3; y++)
                if (get(w, x + dx, y, z + dz) != MV_B_AIR) return 0;
        }
    return 1;
}

static void terrain_spawn(mv_world *w) {
    int bx = W / 2, bz = W / 2;
    for (int r = 0; r < W / 2; r++) /* square rings around the centre, nearest first */
        for (int dx = -r; dx <= r; dx++)
            for (int dz = -r; dz <= r; dz++) {
                if (abs(dx) != r && abs(dz) != r) continue;
                if (spawn_ok(w, bx + dx, bz + dz)) {
                    w->spawn_x = (bx + dx) & WL_MASK, w->spawn_z = (bz + dz) & WL_MASK;
                    w->spawn_y = w->ground[w->spawn_x * W + w->spawn_z] + 1;
                    return;
                }
            }
    /* No open dry spot anywhere (practically impossible): stand on a pillar at the centre. */
    w->spawn_x = bx, w->spawn_z = bz;
    for (int y = 0; y <= 40; y++) put(w, bx, y, bz, MV_B_STONE);
    for (int y = 41; y < H; y++) put(w, bx, y, bz, MV_B_AIR);
    ground_update(w);
    w->spawn_y = 41;
}

/* ---------------- distance field ---------------- */
/* Exact Chebyshev distance to the nearest non-air cell, capped at 15, by three separable passes:
 * 1-D distances along y, then min over |k| <= 15 of max(|k|, d) along z and along x (wrapping). */
static void dist_pass_y(uint8_t *d /* [W, W, H] */, const uint8_t *vox /* [W, W, H] */) {
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < (size_t)W * W; c++) {
        const uint8_t *v = vox + c * H;
        uint8_t *o = d + c * H;
        int run = WL_DIST_CAP;
        for (int y = 0; y < H; y++) {
            run = (v[y] & 15) ? 0 : MV_MIN(run + 1, WL_DIST_CAP);
            o[y] = (uint8_t)run;
        }
        run = WL_DIST_CAP;
        for (int y = H - 1; y >= 0; y--) {
            run = o[y] == 0 ? 0 : MV_MIN(run + 1, WL_DIST_CAP);
            if (run < o[y]) o[y] = (uint8_t)run;
        }
    }
}

/* o[x, z, :] = min over |k| <= cap of max(|k|, d[x + k, z, :]) (axis 0) or d[x, z + k, :] (axis 1). */
static void dist_pass_xz(uint8_t *o /* [W, W, H] */, const uint8_t *d /* [W, W, H] */, int axis) {
#pragma omp parallel for schedule(static)
    for (int x = 0; x < W; x++)
        for (int z = 0; z < W; z++) {
            uint8_t *r = o + wl_index(x, z, 0);
            memcpy(r, d + wl_index(x, z, 0), H);
            for (int k = 1; k <= WL_DIST_CAP; k++) {
                const uint8_t *a = d + (axis == 0 ? wl_index(x - k, z, 0) : wl_index(x, z - k, 0));
                const uint8_t *b = d + (axis == 0 ? wl_index(x + k, z, 0) : wl_index(x, z + k, 0));
                uint8_t kk = (uint8_t)k;
                for (int y = 0; y < H; y++) {
                    uint8_t m = MV_MIN(a[y], b[y]);
                    m = MV_MAX(m, kk);
                    r[y] = MV_MIN(r[y], m);
                }
            }
        }
}

static mv_status terrain_distance(mv_world *w) {
    size_t n = (size_t)W * W * H;
    uint8_t *d = mv_alloc(n), *t = mv_alloc(n);
    mv_status st = MV_ERR_NOMEM;
    if (!d || !t) goto fail;
    dist_pass_y(d, w->vox);
    dist_pass_xz(t, d, 1);
    dist_pass_xz(d, t, 0);
    for (size_t i = 0; i < n; i++) w->vox[i] = (uint8_t)((w->vox[i] & 15) | (d[i] << 4));
    st = MV_OK;
fail:
    mv_free(d);
    mv_free(t);
    return st;
}

/* ---------------- public ---------------- */
mv_status mv_world_create(mv_world **out, uint32_t seed) {
    *out = NULL;
    mv_world *w = calloc(1, sizeof *w);
    if (!w) return mv_fail(MV_ERR_NOMEM, "world: out of memory");
    w->seed = seed;
    w->vox = mv_calloc((size_t)W * W * H);
    w->ground = mv_calloc((size_t)W * W);
    if (!w->vox || !w->ground) goto fail;
    float *maps = calloc((size_t)3 * W * W, sizeof(float)); /* height, hills, tree density: [3, W, W] */
    if (!maps) goto fail;
    fbm_map(maps, seed);
    noise_add(maps + W * W, seed ^ 0xA5A5u, 9, 128, 1.0f);
    noise_add(maps + 2 * W * W, seed ^ 0x7777u, 10, 32, 1.0f);
    wl_textures_make(w);
    terrain_columns(w, maps, maps + W * W);
    ground_update(w);
    terrain_trees(w, maps + 2 * W * W);
    free(maps);
    ground_update(w);
    terrain_spawn(w);
    terrain_landmarks(w);
    if (terrain_distance(w) != MV_OK) goto fail;
    *out = w;
    return MV_OK;
fail:
    mv_world_free(w);
    return mv_fail(MV_ERR_NOMEM, "world: out of memory (%d x %d x %d blocks)", W, W, H);
}

void mv_world_free(mv_world *w) {
    if (!w) return;
    mv_free(w->vox);
    mv_free(w->ground);
    free(w);
}

int mv_world_block(const mv_world *w, int x, int y, int z) { return get(w, x, y, z); }
int mv_world_ground(const mv_world *w, int x, int z) { return w->ground[(x & WL_MASK) * W + (z & WL_MASK)]; }
int mv_world_landmarks(const mv_world *w) { return w->landmarks; }

void mv_world_spawn(const mv_world *w, double *x, double *y, double *z) {
    *x = w->spawn_x + 0.5, *y = w->spawn_y, *z = w->spawn_z + 0.5;
}
