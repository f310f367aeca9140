/* Shared state of evaluate.c (protocol, cache) and evaluate_output.c (metrics.json, report, mp4s).
 * evaluate.c calls into evaluate_output.c, never the other way round. */
#ifndef MV_EVALUATE_INTERNAL_H
#define MV_EVALUATE_INTERNAL_H
#include "core/core.h"
#include "eval/evaluate.h"
#include "eval/training.h"
#include "io/dataset.h"
#include "pipeline/generator.h"

#define EV_PSNR_CAP 100.0 /* identical frames (PSNR +inf) are stored as 100 dB */
#define EV_TEXT_MAX (64 << 20) /* config.json and cache entries are far smaller */
#define EV_BOUNDS 3       /* "autoencoded", "random", "hold_last" after the methods */

typedef struct {
    char name[64];
    const char *path;     /* NULL for the bounds */
    int is_bound;
    mv_gen_model model;   /* the DiT, its method and schedule (methods only) */
    int steps;
    float guidance;
    int reach_context;    /* the MilliVid reach + 1 of the checkpoint's configuration (the default context) */
} ev_method;

typedef struct {
    const mv_eval_params *p;
    mv_dataset d;
    int d_ok;
    mv_gen_ae ae;         /* the autoencoder (ae.hash, ae.file_hash) */
    ev_method m[MV_EVAL_MAX_METHODS + EV_BOUNDS]; /* methods, then "autoencoded" (nm), "random" (nm + 1),
                                                   * "hold_last" (nm + 2) */
    int nm;                               /* DiT methods */
    int V, T, C, G, H;                    /* videos, frames, context, generated = T - C, frame size */
    double wrap;
    char *config_json;                    /* the configuration (config.json text) */
    uint64_t *vhash;                      /* [V] hash of each video's evaluated frames and actions */
    /* results: [nm + EV_BOUNDS, V, G] per-frame metrics of generated frames; per entry stats */
    double *psnr, *ssim;
    long *dit_calls;      /* [nm + EV_BOUNDS, V] (-1 for bounds) */
    int *tokens_per_step; /* [nm + EV_BOUNDS, V] */
    double *seconds;      /* [nm + EV_BOUNDS, V] */
    uint8_t *mask;        /* [V, T] revisit mask (zeros with no_revisit) */
    uint8_t *reach_mask;  /* [V, T] the revisits within reach of a method (mv_revisit_mask_reach), a subset */
    mv_reach reach[MV_EVAL_MAX_METHODS]; /* [nm] each method's schedule S (back) and A (advance) */
    int reach_lead;       /* the method that reaches furthest back (largest S; the first of equals) */
    int *partner;         /* [V] */
    int computed, cached;
    mv_training training; /* p->training_dir read (zeroed when none) */
} ev_run;

static inline int ev_rows(const ev_run *r) { return r->nm + EV_BOUNDS; }
static inline size_t ev_idx(const ev_run *r, int method, int video) { return (size_t)method * r->V + video; }

/* cache/<method>/video_<i>.<ext> of the output folder */
static inline void ev_cache_path(char *dst, size_t n, const ev_run *r, int method, int video, const char *ext) {
    snprintf(dst, n, "%s/cache/%s/video_%d.%s", r->p->out_dir, r->m[method].name, video, ext);
}

/* evaluate_output.c */
mv_status ev_write_outputs(ev_run *r, char *summary_path, size_t n);
#endif
