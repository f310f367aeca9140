/* The evaluation report: plain data in, four files out.
 *
 * The eval protocol fills an mv_report (structs of arrays it owns; nothing is copied or freed here)
 * and calls mv_report_write(r, dir), which writes
 *   dir/summary.md     a markdown table ready for a README (+ a short legend),
 *   dir/plot_psnr.svg  PSNR over the frame index, one line per method, dashed bounds, bands,
 *   dir/plot_ssim.svg  the same for SSIM,
 *   dir/report.html    one self-contained page (inline CSS, both SVGs inlined) with the title,
 *                      configuration, table, plots and side-by-side videos (relative paths, so the
 *                      videos must sit in dir or below it),
 * and with a training campaign (mv_report.training) a "Training" section in report.html and summary.md
 * plus dir/plot_training_loss.svg and dir/plot_training_recall.svg.
 * report.html?selftest=1 adds a hidden test hook: once every video has fired loadedmetadata or
 * error, the page writes a JSON verdict into <pre id="mv-selftest"> (see tools/check_report.py).
 *
 * mv_bootstrap_ci gives the mean and a 95% percentile-bootstrap interval over videos. */
#ifndef MV_REPORT_H
#define MV_REPORT_H
#include <stdint.h>

#include "eval/training.h"
#include "millivid.h"

/* A mean with its 95% interval; lo = hi = NAN when unknown, mean = NAN when not applicable. */
typedef struct {
    double mean, lo, hi;
} mv_ci;

typedef struct {
    const char *name; /* shown in legend and table, e.g. "MilliVid", "autoencoded (upper bound)" */
    int is_bound;     /* 0: a method (coloured solid line); 1: a bound (grey dashed line) */
    /* Curves over the frame axis, [mv_report.n_frames] each; element i is frame first_frame + i.
     * Non-finite values leave a gap (e.g. context frames). The _lo/_hi bands may be NULL. */
    const double *psnr, *psnr_lo, *psnr_hi;
    const double *ssim, *ssim_lo, *ssim_hi;
    /* Summary over videos: all generated frames, the long-horizon range, the revisit frames. */
    mv_ci psnr_all, psnr_long, psnr_revisit;
    mv_ci ssim_all, ssim_long, ssim_revisit;
    long dit_calls;       /* per test video; < 0: not applicable (bounds) */
    long tokens_per_step; /* < 0: not applicable */
    double wall_seconds;  /* total generation time; NAN: not applicable */
    mv_ci psnr_reach, ssim_reach; /* summary over the revisit frames within reach (mv_report.revisit_reach) */
} mv_report_method;

typedef struct {
    const char *title;       /* page and table title */
    const char *config_text; /* resolved configuration shown verbatim (e.g. JSON); may be NULL */
    int n_videos_evaluated;  /* test videos averaged (for the explanation text) */
    int n_frames;            /* curve length */
    int first_frame;         /* frame index of curve element 0 */
    int context_frames;      /* frames [0, C) are the given context; generation starts at C */
    int long_from, long_to;  /* long-horizon frame range [from, to); to <= from: none */
    const int *revisit;      /* [n_revisit] frame indices to shade (revisits of a context place) */
    int n_revisit;
    const mv_report_method *methods; /* [n_methods], methods then bounds in any order */
    int n_methods;
    const char *const *videos;         /* [n_videos] paths relative to the report directory */
    const char *const *video_captions; /* [n_videos] or NULL */
    int n_videos;
    const char *video_note; /* e.g. "left to right: ground truth, MilliVid, ..."; may be NULL */
    /* The revisits whose matching context frame a method's rollout can see: their own table column, shaded
     * darker than the other revisits. */
    const int *revisit_reach; /* [n_revisit_reach] frame indices, a subset of revisit */
    int n_revisit_reach;
    const char *reach_text;   /* completes "whose matching context frame lies ..." in the text; may be NULL */
    const int *revisit_count, *reach_count; /* [n_videos_evaluated] revisit / within-reach frames per video, or
                                             * NULL (both or neither) */
    /* A training campaign (eval/training.h): adds a "Training" section (loss and revisit recall against
     * training tokens, a table per run) to report.html and summary.md, and writes plot_training_loss.svg
     * and plot_training_recall.svg. NULL: none. */
    const mv_training *training;
} mv_report;

/* Sets every mv_ci of m to NAN (shown as "–"), dit_calls / tokens_per_step to -1, wall_seconds to NAN and
 * everything else to zero/NULL. Call it before filling a method: a zeroed mv_ci would show as 0.00. */
void mv_report_method_init(mv_report_method *m);

/* Writes the four files into dir (which must exist). */
mv_status mv_report_write(const mv_report *r, const char *dir);

/* One plot as an SVG document (malloc'd, NUL-terminated; caller frees). metric: 0 PSNR, 1 SSIM.
 * id_prefix keeps element ids unique when several SVGs share one page. */
mv_status mv_report_svg(char **svg, const mv_report *r, int metric, const char *id_prefix);

/* One training plot of r->training as an SVG document (malloc'd; caller frees). which: 0 the smoothed
 * v-loss of every run, 1 revisit recall PSNR of every probed run with its 95% interval bars and the
 * latest probe's bounds; both against training tokens (millions). Methods found in r->methods by name
 * keep their colour. */
mv_status mv_report_training_svg(char **svg, const mv_report *r, int which, const char *id_prefix);

/* Mean of x[n] and its 95% percentile-bootstrap interval: `resamples` (1000 if <= 0) means of n
 * values drawn with replacement by Philox(seed); lo/hi are the 2.5th / 97.5th percentiles with
 * linear interpolation (numpy's default). n = 1 gives lo = hi = mean. Fails on n < 1 or non-finite x. */
mv_status mv_bootstrap_ci(mv_ci *out, const double *x, int n, int resamples, uint64_t seed);

/* Per-frame curves over videos: x [n_videos, n_frames] -> mean, lo, hi [n_frames] (lo/hi may be
 * NULL). Frame f resamples with the stream mv_rng_fork(seed, f), so results do not depend on threads.
 * A frame with any non-finite value gets NAN (a gap in the plot) instead of failing. */
mv_status mv_bootstrap_curves(double *mean, double *lo, double *hi, const double *x, int n_videos, int n_frames,
                              int resamples, uint64_t seed);
#endif
