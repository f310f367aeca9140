/* Loopcraft: a seeded, procedural Minecraft-like voxel world, a first-person raycasting renderer, a
 * walking agent, the paper's random-walk policy (train) and its loop-biased variant (test), and the
 * data-set writer behind `millivid world`.
 *
 * Conventions (all stated once here):
 * - World: 256 x 256 columns, 64 blocks high, wrapping around in x and z (a torus), so a walk never
 *   reaches an edge. x east, y up, z south. Block (x, y, z) fills [x, x+1) x [y, y+1) x [z, z+1).
 *   Sea level MV_WORLD_SEA: water fills every air cell at or below it above the ground.
 * - Agent pose: (x, y, z) is the centre of the agent's FEET (bottom of its 0.6 x 1.8 x 0.6 box) in
 *   unwrapped world coordinates (positions keep growing across the wrap); the eye is 1.6 above it.
 *   yaw in degrees, Minecraft-style: yaw 0 looks towards +z, yaw 90 towards -x; forward direction
 *   (-sin yaw, 0, cos yaw). Action 1 (left) adds -10 degrees, action 2 (right) +10 degrees; yaw is
 *   never wrapped (it accumulates, so differences are exact). The walk starts at the spawn, yaw 0.
 *   Pitch is fixed at MV_WORLD_PITCH = -10 degrees (looking slightly down), stored as such.
 * - Camera: pinhole, square image, field of view MV_WORLD_FOV = 70 degrees (horizontal = vertical),
 *   2x2 supersampled and box-filtered to the output size. Rays stop at MV_WORLD_FOG blocks, where the
 *   fog (starting at 30% of that) has faded fully into the sky gradient. Sub-rays of one pixel share
 *   a cone-traced empty prefix (exact) and reuse each other's face hit when they land on the same
 *   surface (can differ from a full trace only by a sub-pixel occluder at silhouettes).
 * - Physics for "solid": every non-air block, water included (the agent walks on the water surface).
 * - Action alignment: actions[i] is the action that PRODUCED frame i. The environment is reset (not
 *   saved), then for every i it is stepped with action i and frame i is rendered; the pose stored at
 *   i is the pose of frame i. So yaw[i] - yaw[i-1] == -10 exactly when id[i] == 1, +10 when id[i] == 2,
 *   and the agent only moves on frames whose id is 0.
 */
#ifndef MV_WORLD_WORLD_H
#define MV_WORLD_WORLD_H
#include <stdint.h>

#include "core/rng.h"
#include "millivid.h"

#define MV_WORLD_W 256 /* columns in x and in z (power of two; the world wraps) */
#define MV_WORLD_H 64  /* blocks in y */
#define MV_WORLD_SEA 22
#define MV_WORLD_FOV 70.0
#define MV_WORLD_PITCH (-10.0)
#define MV_WORLD_FOG 48.0 /* rays stop here; fog reaches the sky colour at this distance */
#define MV_WORLD_HOLD 9   /* every policy action is held for this many frames */
#define MV_WORLD_TURN 10.0

enum {
    MV_B_AIR = 0, MV_B_GRASS, MV_B_DIRT, MV_B_STONE, MV_B_SAND, MV_B_WATER, MV_B_LOG, MV_B_LEAVES,
    MV_B_PLANKS, MV_B_BRICK, MV_B_WOOL_ORANGE, MV_B_WOOL_RED, MV_B_WOOL_YELLOW, MV_B_WOOL_BLUE,
    MV_B_WOOL_MAGENTA, MV_B_WOOL_WHITE, MV_B_COUNT
};
enum { MV_ACT_FORWARD = 0, MV_ACT_LEFT = 1, MV_ACT_RIGHT = 2 };

/* ---------------- world ---------------- */
typedef struct mv_world mv_world;
mv_status mv_world_create(mv_world **w, uint32_t seed);
void mv_world_free(mv_world *w);
int mv_world_block(const mv_world *w, int x, int y, int z); /* x, z wrap; y < 0 stone, y >= H air */
int mv_world_ground(const mv_world *w, int x, int z);       /* height of the highest solid block */
int mv_world_landmarks(const mv_world *w);                  /* number of landmarks placed */
/* A dry, open spawn point (feet position, block centre), the same for the same seed. */
void mv_world_spawn(const mv_world *w, double *x, double *y, double *z);

/* ---------------- renderer ---------------- */
/* Renders the view from the eye at feet (x, y, z) + 1.6 with the given yaw/pitch (degrees).
 * size: multiple of 8 in [8, 256]. Rows are split over OpenMP threads; the image does not depend on
 * the thread count. */
void mv_world_render(const mv_world *w, double x, double y, double z, double yaw_deg,
                     double pitch_deg, int size, uint8_t *rgb /* [size, size, 3] */);
/* The same for n frames at once (one parallel region for all their rows: fewer barriers, better
 * scaling). poses: rows as stored in actions.npy [id, x, y, z, yaw, pitch]. Byte-identical to n calls
 * of mv_world_render. */
mv_status mv_world_render_batch(const mv_world *w, const float *poses /* [n, 6] */, int n, int size,
                                uint8_t *rgb /* [n, size, size, 3] */);

/* ---------------- agent ---------------- */
typedef struct {
    double x, y, z;   /* feet centre, unwrapped */
    double yaw, pitch; /* degrees; pitch fixed */
    double vy;        /* vertical velocity, blocks per frame */
    int on_ground;
} mv_agent;
void mv_agent_reset(mv_agent *a, const mv_world *w); /* at the spawn point, yaw 0 */
/* One frame: 0 forward (0.2 blocks, collision, auto-jump over one-block steps, gravity),
 * 1 left / 2 right (yaw -/+10 degrees; the agent does not move at all on a turn frame). */
void mv_agent_step(mv_agent *a, const mv_world *w, int action);
/* 1 when the agent box with feet at (x, y, z) overlaps a solid block. */
int mv_agent_collides(const mv_world *w, double x, double y, double z);

/* ---------------- policy ---------------- */
#define MV_BUNDLE_MAX 16 /* 1 leading forward + k <= 4 turns + fewer than 3k forwards */
/* One bundle (before the 9-frame hold): k turns, forwards uniform in [k, 3k), shuffled, one forward
 * prepended. Returns the number of actions written. */
int mv_policy_bundle(mv_rng *r, uint8_t out[MV_BUNDLE_MAX]);
/* Per-frame actions of a train walk: bundles, every action held 9 frames, cut to T. */
void mv_policy_train(mv_rng *r, int T, uint8_t *actions /* [T] */);
/* Turtle positions of per-frame actions: pos[0] = origin, pos[i+1] after action i (heading += yaw
 * on a turn, unit step on forward). */
void mv_policy_turtle(const uint8_t *actions /* [T] */, int T, float *pos /* [T+1, 2] */);
/* Two-way Chamfer distance: mean nearest distance a->b plus mean nearest distance b->a. */
double mv_chamfer2d(const float *a /* [na, 2] */, int na, const float *b /* [nb, 2] */, int nb);
/* Loop score of a walk: Chamfer distance between the first `context` turtle positions and the rest. */
double mv_policy_loop_score(const uint8_t *actions /* [T] */, int T, int context);
/* Test walk: draws `candidates` train walks, keeps the lowest-scoring ceil(keep_fraction*candidates)
 * (at least 1) and returns one of them at random. */
mv_status mv_policy_test(mv_rng *r, int T, int context, int candidates, double keep_fraction,
                         uint8_t *actions /* [T] */);

/* ---------------- data sets ---------------- */
typedef struct {
    const char *out;      /* output directory */
    int test_split;       /* 0 train, 1 test */
    int videos, frames, size;
    long seed;
    int context, candidates;
    double keep_fraction;
    int mp4;              /* also write DIR/videos/NNNNN.mp4 (H.264, 20 fps) */
    int threads;          /* <= 0: all cores */
    int force;            /* replace a non-empty output directory */
    int quiet;            /* no configuration print and no progress bar */
} mv_world_params;
void mv_world_params_init(mv_world_params *p);
mv_status mv_world_params_check(const mv_world_params *p);
/* The world seed of video `video` of a data set made with `seed` (Philox fork of the data-set seed by
 * the video index). The video's walk uses the Philox stream mv_rng_fork(world seed, 1). */
uint32_t mv_world_video_seed(long seed, int video);
/* The per-frame actions and poses of one video (what the data set stores), without rendering when
 * rgb is NULL. actions6: [T, 6] = id, x, y, z, yaw, pitch. */
mv_status mv_world_video(const mv_world_params *p, int video, const mv_world *w,
                         float *actions6 /* [T, 6] */, uint8_t *rgb /* [T, S, S, 3] or NULL */);
/* Writes frames.npy, actions.npy, index.json (and videos/) into a temporary sibling directory and
 * renames it to p->out at the end. */
mv_status mv_world_write_dataset(const mv_world_params *p);
#endif
