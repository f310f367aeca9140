/* Procedural 16x16 pixel-art block textures, one per face kind (top / side / bottom), shaded once
 * per face direction by a constant sun. */
#include <math.h>

#include "core/core.h"
#include "world/world_internal.h"

float wl_hash01(uint32_t seed, uint64_t key) {
    uint32_t o[4];
    mv_philox(seed, key, o);
    return (o[0] >> 8) * (1.0f / 16777216.0f);
}

typedef struct {
    float c[WL_TEX * WL_TEX][3];
} tex_rgb;

enum { K_TOP = 0, K_SIDE = 1, K_BOTTOM = 2 };

static float tex_noise(int block, int kind, int px, int py) {
    return wl_hash01(0x7E57u + (uint32_t)block * 131u, (uint64_t)kind * 4096 + (uint64_t)py * 16 + px);
}

static void set_rgb(float *dst, float r, float g, float b, float k) {
    dst[0] = r * k, dst[1] = g * k, dst[2] = b * k;
}

/* Base colour with per-texel brightness jitter of +-amp. */
static void tex_fill(tex_rgb *t, int block, int kind, float r, float g, float b, float amp) {
    for (int py = 0; py < WL_TEX; py++)
        for (int px = 0; px < WL_TEX; px++) {
            float k = 1.0f + amp * (2.0f * tex_noise(block, kind, px, py) - 1.0f);
            set_rgb(t->c[py * WL_TEX + px], r, g, b, k);
        }
}

static void tex_specks(tex_rgb *t, int block, int kind, float frac, float k) {
    for (int p = 0; p < WL_TEX * WL_TEX; p++)
        if (tex_noise(block, kind + 8, p & 15, p >> 4) < frac)
            for (int c = 0; c < 3; c++) t->c[p][c] *= k;
}

static void tex_grass_side(tex_rgb *t, int kind) {
    tex_fill(t, MV_B_DIRT, K_SIDE, 134, 96, 67, 0.12f);
    tex_specks(t, MV_B_DIRT, K_SIDE, 0.12f, 0.75f);
    for (int px = 0; px < WL_TEX; px++) {
        int fringe = 2 + (int)(3.0f * tex_noise(MV_B_GRASS, kind + 16, px, 0));
        for (int py = 0; py < fringe; py++) {
            float k = 1.0f + 0.15f * (2.0f * tex_noise(MV_B_GRASS, kind, px, py) - 1.0f);
            set_rgb(t->c[py * WL_TEX + px], 92, 150, 52, k);
        }
    }
}

static void tex_water(tex_rgb *t) {
    tex_fill(t, MV_B_WATER, 0, 48, 88, 200, 0.05f);
    for (int py = 0; py < WL_TEX; py++)
        for (int px = 0; px < WL_TEX; px++) {
            int wave = ((px + 3 * (py / 4)) % 8) < 3 && (py % 4) == 1;
            if (wave) set_rgb(t->c[py * WL_TEX + px], 90, 135, 230, 1.0f);
        }
}

static void tex_log(tex_rgb *t, int kind) {
    if (kind == K_SIDE) {
        for (int py = 0; py < WL_TEX; py++)
            for (int px = 0; px < WL_TEX; px++) {
                float k = (px % 4 == 0 ? 0.7f : 1.0f) * (0.9f + 0.2f * tex_noise(MV_B_LOG, 1, px, py));
                set_rgb(t->c[py * WL_TEX + px], 104, 80, 50, k);
            }
        return;
    }
    for (int py = 0; py < WL_TEX; py++)
        for (int px = 0; px < WL_TEX; px++) {
            float dx = px - 7.5f, dy = py - 7.5f, rr = sqrtf(dx * dx + dy * dy);
            float k = ((int)rr % 3 == 0 ? 0.8f : 1.0f) * (0.95f + 0.1f * tex_noise(MV_B_LOG, 0, px, py));
            if (rr > 6.8f) set_rgb(t->c[py * WL_TEX + px], 104, 80, 50, 0.9f);
            else set_rgb(t->c[py * WL_TEX + px], 170, 138, 86, k);
        }
}

static void tex_planks(tex_rgb *t) {
    tex_fill(t, MV_B_PLANKS, 0, 168, 134, 80, 0.08f);
    for (int py = 0; py < WL_TEX; py++)
        for (int px = 0; px < WL_TEX; px++) {
            int seam = (py % 4 == 3) || (px == ((py / 4) % 2 ? 4 : 12));
            if (seam) set_rgb(t->c[py * WL_TEX + px], 110, 84, 48, 1.0f);
        }
}

static void tex_brick(tex_rgb *t) {
    tex_fill(t, MV_B_BRICK, 0, 152, 66, 52, 0.1f);
    for (int py = 0; py < WL_TEX; py++)
        for (int px = 0; px < WL_TEX; px++) {
            int mortar = (py % 4 == 3) || (px % 8 == ((py / 4) % 2 ? 3 : 7));
            if (mortar) set_rgb(t->c[py * WL_TEX + px], 190, 184, 170, 1.0f);
        }
}

static void tex_wool(tex_rgb *t, int block, float r, float g, float b) {
    tex_fill(t, block, 0, r, g, b, 0.06f);
    for (int py = 0; py < WL_TEX; py++)
        for (int px = 0; px < WL_TEX; px++)
            if ((px + py) % 5 == 0 || (px - py + 32) % 7 == 0)
                for (int c = 0; c < 3; c++) t->c[py * WL_TEX + px][c] *= 0.88f;
}

static void tex_make(tex_rgb *t, int block, int kind) {
    switch (block) {
    case MV_B_GRASS:
        if (kind == K_TOP) {
            tex_fill(t, block, kind, 96, 160, 56, 0.14f);
            tex_specks(t, block, kind, 0.15f, 0.8f);
        } else if (kind == K_SIDE) tex_grass_side(t, kind);
        else tex_make(t, MV_B_DIRT, K_TOP);
        break;
    case MV_B_DIRT:
        tex_fill(t, block, 0, 134, 96, 67, 0.12f);
        tex_specks(t, block, 0, 0.12f, 0.75f);
        break;
    case MV_B_STONE:
        tex_fill(t, block, 0, 128, 128, 128, 0.1f);
        tex_specks(t, block, 0, 0.2f, 0.78f);
        break;
    case MV_B_SAND:
        tex_fill(t, block, 0, 220, 208, 160, 0.06f);
        tex_specks(t, block, 0, 0.1f, 0.92f);
        break;
    case MV_B_WATER: tex_water(t); break;
    case MV_B_LOG: tex_log(t, kind == K_SIDE ? K_SIDE : K_TOP); break;
    case MV_B_LEAVES:
        tex_fill(t, block, 0, 52, 122, 36, 0.18f);
        tex_specks(t, block, 0, 0.22f, 0.6f);
        break;
    case MV_B_PLANKS: tex_planks(t); break;
    case MV_B_BRICK: tex_brick(t); break;
    case MV_B_WOOL_ORANGE: tex_wool(t, block, 235, 130, 30); break;
    case MV_B_WOOL_RED: tex_wool(t, block, 180, 40, 40); break;
    case MV_B_WOOL_YELLOW: tex_wool(t, block, 240, 210, 50); break;
    case MV_B_WOOL_BLUE: tex_wool(t, block, 50, 70, 180); break;
    case MV_B_WOOL_MAGENTA: tex_wool(t, block, 190, 70, 190); break;
    case MV_B_WOOL_WHITE: tex_wool(t, block, 235, 235, 235); break;
    default: tex_fill(t, block, 0, 255, 0, 255, 0.0f); break;
    }
}

/* Per-face brightness: ambient plus a constant sun from the upper south-east. */
static float face_shade(int face) {
    static const float n[6][3] = {{0, 1, 0}, {0, -1, 0}, {1, 0, 0}, {-1, 0, 0}, {0, 0, 1}, {0, 0, -1}};
    const float s[3] = {0.42f, 0.82f, 0.39f}; /* roughly unit length */
    float d = n[face][0] * s[0] + n[face][1] * s[1] + n[face][2] * s[2];
    return 0.52f + 0.5f * (d > 0 ? d : 0);
}

void wl_textures_make(mv_world *w) {
    tex_rgb t;
    for (int b = 1; b < MV_B_COUNT; b++)
        for (int face = 0; face < 6; face++) {
            int kind = face == 0 ? K_TOP : face == 1 ? K_BOTTOM : K_SIDE;
            tex_make(&t, b, kind);
            float k = face_shade(face);
            for (int p = 0; p < WL_TEX * WL_TEX; p++)
                for (int c = 0; c < 3; c++) {
                    float v = t.c[p][c] * k;
                    w->tex[b][face][p][c] = (uint8_t)(v > 255.0f ? 255 : v < 0 ? 0 : v + 0.5f);
                }
        }
    memset(w->tex[0], 0, sizeof w->tex[0]);
}
