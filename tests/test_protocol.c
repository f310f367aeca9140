/* Model-free evaluation protocol helpers: revisit detection, random-bound pairing, long-horizon range. */
#include <math.h>
#include <stdio.h>

#include "core/core.h"
#include "eval/protocol.h"
#include "testutil.h"

static void set_pose(float *p, double x, double z, double yaw) {
    p[0] = 0, p[1] = (float)x, p[2] = 10.0f, p[3] = (float)z, p[4] = (float)yaw, p[5] = -10.0f;
}

static void test_revisits(void) {
    enum { C = 10, T = 24 };
    float poses[T * 6];
    /* context: walk along x at z = 0, yaw 355 (looking along +z, slightly left) */
    for (int t = 0; t < C; t++) set_pose(poses + t * 6, t, 0, 355);
    /* generated: far away first, then a series of probes near context frame 5 (x=5, z=0, yaw 355) */
    for (int t = C; t < T; t++) set_pose(poses + t * 6, 100 + t, 50, 355);
    set_pose(poses + 14 * 6, 5, 0, 355);        /* same place, same view: revisit */
    set_pose(poses + 15 * 6, 5, 1.9, 20);       /* 1.9 blocks, yaw 25 deg across the 0/360 wrap: revisit */
    set_pose(poses + 16 * 6, 5, 0, 175);        /* same place looking the other way: not */
    set_pose(poses + 17 * 6, -1.5, -1.5, 330);  /* 2.12 blocks from frame 0: not (r = 2) */
    set_pose(poses + 18 * 6, -2, 0, 325);       /* exactly 2 blocks and 30 degrees from frame 0: revisit */
    set_pose(poses + 19 * 6, 9, 0, 355 + 720);  /* yaw wrapped twice: revisit */
    set_pose(poses + 20 * 6, 5, 0, -5);         /* negative yaw, same direction as 355: revisit */
    uint8_t mask[T];
    int count = -1;
    mv_revisit_params p;
    mv_revisit_params_init(&p);
    CHECK(p.radius_blocks == 2 && p.yaw_deg == 30 && p.wrap_blocks == 0, "defaults r=2, d=30, no wrap");
    CHECK(mv_revisit_mask(mask, &count, poses, T, C, &p) == MV_OK, "revisit: %s", mv_last_error());
    const uint8_t want[T] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0};
    int same = 1;
    for (int t = 0; t < T; t++) same &= mask[t] == want[t];
    CHECK(same && count == 5, "revisit mask (count %d)", count);
    for (int t = 0; t < T; t++) printf("%d", mask[t]);
    printf("  <- revisit mask\n");
    /* NULL params = defaults; tighter yaw drops the 25- and 30-degree probes */
    uint8_t m2[T];
    CHECK(mv_revisit_mask(m2, NULL, poses, T, C, NULL) == MV_OK && !memcmp(m2, mask, T), "NULL params = defaults");
    p.yaw_deg = 20;
    CHECK(mv_revisit_mask(m2, &count, poses, T, C, &p) == MV_OK && count == 3 && !m2[15] && !m2[18],
          "yaw 20: count %d", count);
    /* periodic world: a pose 256 blocks away is the same place */
    mv_revisit_params_init(&p);
    set_pose(poses + 21 * 6, 5 + 256, -256, 355);
    CHECK(mv_revisit_mask(m2, &count, poses, T, C, &p) == MV_OK && !m2[21], "unwrapped: far away");
    p.wrap_blocks = 256;
    CHECK(mv_revisit_mask(m2, &count, poses, T, C, &p) == MV_OK && m2[21] && count == 6, "wrap 256: revisit");
    /* bad input */
    CHECK(mv_revisit_mask(m2, NULL, poses, T, T + 1, NULL) == MV_ERR_ARG, "context > frames");
    CHECK(mv_revisit_mask(m2, NULL, poses, T, 0, NULL) == MV_ERR_ARG, "no context");
    p.radius_blocks = -1;
    CHECK(mv_revisit_mask(m2, NULL, poses, T, C, &p) == MV_ERR_ARG, "negative radius");
    poses[3 * 6 + 1] = NAN;
    CHECK(mv_revisit_mask(m2, NULL, poses, T, C, NULL) == MV_ERR_ARG && strstr(mv_last_error(), "frame 3"),
          "NaN pose: %s", mv_last_error());
}

static void test_partners(void) {
    enum { N = 5, SEEDS = 2000 };
    int part[N], again[N], hist[N][N];
    memset(hist, 0, sizeof hist);
    int ok = 1;
    for (int s = 0; s < SEEDS; s++) {
        ok &= mv_random_partners(part, N, (uint64_t)s) == MV_OK;
        for (int v = 0; v < N; v++) ok &= part[v] != v && part[v] >= 0 && part[v] < N, hist[v][part[v]]++;
    }
    CHECK(ok, "every video paired with another video");
    int lo = SEEDS, hi = 0;
    for (int v = 0; v < N; v++)
        for (int q = 0; q < N; q++)
            if (q != v) lo = MV_MIN(lo, hist[v][q]), hi = MV_MAX(hi, hist[v][q]);
    CHECK(lo > 400 && hi < 600, "partners roughly uniform over the other %d videos: %d..%d of %d", N - 1, lo, hi,
          SEEDS);
    mv_random_partners(part, N, 7);
    mv_random_partners(again, N, 7);
    CHECK(!memcmp(part, again, sizeof part), "same seed, same pairing");
    int two[2];
    CHECK(mv_random_partners(two, 2, 1) == MV_OK && two[0] == 1 && two[1] == 0, "two videos swap");
    CHECK(mv_random_partners(two, 1, 1) == MV_ERR_ARG, "one video: no partner");
}

static void test_ranges(void) {
    int from, to;
    CHECK(mv_long_horizon_range(&from, &to, 384, 128, 0.5) == MV_OK && from == 256 && to == 384,
          "mini: second half of 256 generated = [256, 384): [%d, %d)", from, to);
    CHECK(mv_long_horizon_range(&from, &to, 1024, 256, 0.25) == MV_OK && from == 832 && to == 1024, "paper, quarter");
    CHECK(mv_long_horizon_range(&from, &to, 11, 10, 0.1) == MV_OK && from == 10 && to == 11, "at least one frame");
    CHECK(mv_long_horizon_range(&from, &to, 10, 10, 0.5) == MV_ERR_ARG, "nothing generated");
    CHECK(mv_long_horizon_range(&from, &to, 20, 10, 0) == MV_ERR_ARG, "fraction 0");
    CHECK(mv_long_horizon_range(&from, &to, 20, 10, 1.5) == MV_ERR_ARG, "fraction > 1");
    double x[6] = {1, 2, 3, 4, 5, 6};
    uint8_t m[6] = {0, 1, 0, 1, 1, 0}, none[6] = {0};
    int idx[6];
    CHECK(mv_range_mean(x, 2, 6) == 4.5 && isnan(mv_range_mean(x, 3, 3)), "range mean");
    CHECK(fabs(mv_mask_mean(x, m, 6) - 11.0 / 3) < 1e-15 && isnan(mv_mask_mean(x, none, 6)), "mask mean");
    CHECK(mv_mask_indices(idx, m, 6) == 3 && idx[0] == 1 && idx[1] == 3 && idx[2] == 4, "mask indices");
}

/* mv_reach_first_frame with the schedules of both presets (S and A as `millivid schedule` prints them). */
static void test_reach_presets(void) {
    const mv_reach mini_mv = {85, 64}, mini_fp = {85, 1}, paper_mv = {255, 192}, paper_fp = {255, 3};
    CHECK(mv_reach_first_frame(&mini_mv, 86, 86) == 1 && mv_reach_first_frame(&mini_mv, 86, 149) == 1 &&
              mv_reach_first_frame(&mini_mv, 86, 150) == 65 && mv_reach_first_frame(&mini_mv, 86, 341) == 193,
          "mini millivid: chunks of 64 frames see the 85 frames before their first frame");
    CHECK(mv_reach_first_frame(&mini_fp, 86, 86) == 1 && mv_reach_first_frame(&mini_fp, 86, 200) == 115,
          "mini framepack: the 85 frames before the frame itself");
    CHECK(mv_reach_first_frame(&paper_mv, 256, 256) == 1 && mv_reach_first_frame(&paper_mv, 256, 447) == 1 &&
              mv_reach_first_frame(&paper_mv, 256, 448) == 193, "paper millivid: chunks of 192 frames, reach 255");
    CHECK(mv_reach_first_frame(&paper_fp, 256, 258) == 1 && mv_reach_first_frame(&paper_fp, 256, 259) == 4,
          "paper framepack: chunks of 3 frames, reach 255");
}

/* mv_revisit_mask_reach: only matches a reach sees count; several reaches count as their union. */
static void test_revisits_in_reach(void) {
    enum { C = 10, T = 30 };
    float poses[T * 6];
    for (int t = 0; t < T; t++) set_pose(poses + t * 6, t < C ? 10.0 * t : 1000 + t, 0, 0); /* context 10 apart */
    set_pose(poses + 12 * 6, 70, 0, 0); /* frame 7: seen by the chunk of 12 (frames 6-9 with S 4, A 5) */
    set_pose(poses + 20 * 6, 0, 0, 0);  /* frame 0: out of every reach below */
    set_pose(poses + 25 * 6, 90, 0, 0); /* frame 9: out of reach (S 4, A 5: from 21), in reach of S 16, A 1 */
    uint8_t all[T], in[T];
    int n_all = -1, n_in = -1;
    mv_reach chunked = {4, 5}, both[2] = {{4, 5}, {16, 1}};
    CHECK(mv_revisit_mask_gap(all, &n_all, poses, T, C, NULL, 0) == MV_OK && n_all == 3 && all[12] && all[20] &&
              all[25], "revisits 12, 20, 25 (count %d)", n_all);
    CHECK(mv_revisit_mask_reach(in, &n_in, poses, T, C, NULL, 0, &chunked, 1) == MV_OK && n_in == 1 && in[12],
          "S 4, A 5: only frame 12 (count %d)", n_in);
    CHECK(mv_revisit_mask_reach(in, &n_in, poses, T, C, NULL, 0, both, 2) == MV_OK && n_in == 2 && in[12] &&
              in[25] && !in[20], "union of two reaches: 12 and 25 (count %d)", n_in);
    int subset = 1;
    for (int t = 0; t < T; t++) subset &= !in[t] || all[t];
    CHECK(subset, "revisits in reach are revisits");
    CHECK(mv_revisit_mask_reach(in, &n_in, poses, T, C, NULL, 6, both, 2) == MV_OK && n_in == 1 && in[25] && !in[12],
          "a gap of 6 drops frame 12 (gap 5), keeps frame 25 (gap 16): count %d", n_in);
    mv_reach bad = {4, 0};
    CHECK(mv_revisit_mask_reach(in, NULL, poses, T, C, NULL, 0, &bad, 1) == MV_ERR_ARG, "advance 0 refused");
    CHECK(mv_revisit_mask_reach(in, NULL, poses, T, C, NULL, 0, both, 0) == MV_ERR_ARG, "no reach refused");
}

int main(void) {
    test_revisits();
    test_reach_presets();
    test_revisits_in_reach();
    test_partners();
    test_ranges();
    return tu_finish();
}
