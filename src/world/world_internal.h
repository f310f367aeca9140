/* Loopcraft internals shared by terrain.c, texture.c, render.c and agent.c. */
#ifndef MV_WORLD_INTERNAL_H
#define MV_WORLD_INTERNAL_H
#include "world/world.h"

#define WL_SHIFT 8 /* log2(MV_WORLD_W) */
#define WL_MASK (MV_WORLD_W - 1)
#define WL_DIST_CAP 15

/* Faces: 0 top (+y), 1 bottom (-y), 2 +x, 3 -x, 4 +z, 5 -z. */
#define WL_TEX 16

struct mv_world {
    uint32_t seed;
    /* [W (x), W (z), H (y)]: low nibble block id, high nibble Chebyshev distance (in blocks, capped
     * at 15) from this cell to the nearest non-air cell; y is contiguous (one 64-byte line/column). */
    uint8_t *vox;
    uint8_t *ground; /* [W (x), W (z)] height of the highest solid block */
    int landmarks;
    int spawn_x, spawn_y, spawn_z; /* spawn block column and feet height */
    uint8_t tex[MV_B_COUNT][6][WL_TEX * WL_TEX][3]; /* shaded per face */
};

static inline size_t wl_index(int x, int z, int y) {
    return ((((size_t)(x & WL_MASK) << WL_SHIFT) | (size_t)(z & WL_MASK)) << 6) | (size_t)y;
}

/* texture.c: fills w->tex (procedural pixel art, the same for every world, shaded per face). */
void wl_textures_make(mv_world *w);
/* A hash in [0, 1) from the one RNG (Philox) for procedural content. */
float wl_hash01(uint32_t seed, uint64_t key);
#endif
