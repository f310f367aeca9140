/* SVG line plots of per-frame metrics for the evaluation report (see report.h). */
#include <math.h>

#include "core/core.h"
#include "eval/report.h"
#include "eval/report_internal.h"
#include "eval/textbuf.h"

#define SVG_W 760
#define SVG_H 430
#define PL 66              /* plot area left */
#define PR (SVG_W - 22)    /* plot area right */
#define PT 64              /* plot area top */
#define PB (SVG_H - 112)   /* plot area bottom */
#define FONT "DejaVu Sans, Helvetica, Arial, sans-serif"

static const char *const method_colors[] = {"#0b6bcb", "#e4572e", "#17a673", "#8e44ad", "#f2a900", "#1ab0c4"};
static const char *const bound_colors[] = {"#3b3b3b", "#8a8a8a", "#5f6b7a"};
static const char *const bound_dash[] = {"7 4", "2 4", "10 3 2 3"};

typedef struct {
    double x0, x1, y0, y1; /* data range of the axes */
    double ystep, xstep;
} plot_axes;

static const double *curve_of(const mv_report_method *m, int metric, int which) {
    if (metric == 0) return which == 0 ? m->psnr : which == 1 ? m->psnr_lo : m->psnr_hi;
    return which == 0 ? m->ssim : which == 1 ? m->ssim_lo : m->ssim_hi;
}

void mv_report_style(const mv_report *r, int k, const char **color, const char **dash) {
    int nm = 0, nb = 0;
    for (int i = 0; i < k; i++) r->methods[i].is_bound ? nb++ : nm++;
    if (r->methods[k].is_bound) {
        *color = bound_colors[nb % MV_ARRAY_LEN(bound_colors)];
        *dash = bound_dash[nb % MV_ARRAY_LEN(bound_dash)];
    } else {
        *color = method_colors[nm % MV_ARRAY_LEN(method_colors)];
        *dash = NULL;
    }
}

/* 1, 2 or 5 times a power of ten, at least raw. */
static double nice_step(double raw) {
    double p = pow(10.0, floor(log10(raw))), f = raw / p;
    return (f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0) * p;
}

static int step_decimals(double step) {
    int d = (int)-floor(log10(step) + 1e-9);
    return d < 0 ? 0 : d;
}

static plot_axes plot_axes_make(const mv_report *r, int metric) {
    plot_axes a;
    a.x0 = MV_MIN(r->first_frame, r->context_frames);
    if (a.x0 < 0) a.x0 = 0;
    a.x1 = r->first_frame + r->n_frames - 1;
    if (a.x1 <= a.x0) a.x1 = a.x0 + 1;
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < r->n_methods; k++)
        for (int w = 0; w < 3; w++) {
            const double *c = curve_of(&r->methods[k], metric, w);
            for (int i = 0; c && i < r->n_frames; i++)
                if (isfinite(c[i])) lo = fmin(lo, c[i]), hi = fmax(hi, c[i]);
        }
    if (!(lo <= hi)) lo = 0.0, hi = 1.0;
    if (hi - lo < 1e-9) lo -= metric == 0 ? 1.0 : 0.05, hi += metric == 0 ? 1.0 : 0.05;
    a.ystep = nice_step((hi - lo) / 5.0);
    a.y0 = floor(lo / a.ystep) * a.ystep;
    a.y1 = ceil(hi / a.ystep) * a.ystep;
    if (a.y1 - hi < 0.02 * (a.y1 - a.y0) && !(metric == 1 && a.y1 >= 1.0))
        a.y1 += a.ystep; /* keep lines off the top edge (SSIM never needs more than 1) */
    a.xstep = nice_step((a.x1 - a.x0) / 8.0);
    if (a.xstep < 1.0) a.xstep = 1.0;
    return a;
}

static double px(const plot_axes *a, double frame) { return PL + (frame - a->x0) / (a->x1 - a->x0) * (PR - PL); }
static double py(const plot_axes *a, double v) { return PB - (v - a->y0) / (a->y1 - a->y0) * (PB - PT); }
static double clampx(double x) { return x < PL ? PL : x > PR ? PR : x; }

static void svg_grid_and_ticks(mv_textbuf *b, const plot_axes *a) {
    int yd = step_decimals(a->ystep);
    for (double v = a->y0; v <= a->y1 + 1e-9 * a->ystep; v += a->ystep) {
        double y = py(a, v);
        mv_tb_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e3e6ea\"/>\n", PL, y, PR, y);
        mv_tb_printf(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" class=\"tick\">%.*f</text>\n", PL - 7,
                     y + 4, yd, v);
    }
    for (double f = ceil(a->x0 / a->xstep) * a->xstep; f <= a->x1 + 1e-9; f += a->xstep) {
        double x = px(a, f);
        mv_tb_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#f0f2f4\"/>\n", x, PT, x, PB);
        mv_tb_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#333\"/>\n", x, PB, x, PB + 5);
        mv_tb_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" class=\"tick\">%.0f</text>\n", x, PB + 19,
                     f);
    }
}

#define REVISIT_FILL "#f4a261" /* revisit frames */
#define REACH_FILL "#d9480f"   /* revisit frames within reach */

/* Whether frame f is one of r->revisit_reach. */
static int in_reach(const mv_report *r, int f) {
    for (int i = 0; i < r->n_revisit_reach; i++)
        if (r->revisit_reach[i] == f) return 1;
    return 0;
}

/* Context region, revisit shading (within reach darker), long-horizon bracket, context/generated boundary. */
static void svg_regions(mv_textbuf *b, const mv_report *r, const plot_axes *a) {
    double xc = px(a, r->context_frames - 0.5);
    if (r->context_frames > a->x0) {
        mv_tb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#eef0f3\"/>\n", PL, PT,
                     clampx(xc) - PL, PB - PT);
        if (clampx(xc) - PL > 60)
            mv_tb_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" class=\"note\">&#8592; context</text>\n",
                         (PL + clampx(xc)) / 2, PT - 5);
    }
    for (int i = 0; i < r->n_revisit;) { /* runs of consecutive revisit frames of one kind */
        int j = i, reach = in_reach(r, r->revisit[i]);
        while (j + 1 < r->n_revisit && r->revisit[j + 1] == r->revisit[j] + 1 &&
               in_reach(r, r->revisit[j + 1]) == reach)
            j++;
        double xa = clampx(px(a, r->revisit[i] - 0.5)), xb = clampx(px(a, r->revisit[j] + 0.5));
        if (xb > xa)
            mv_tb_printf(b, "<rect class=\"%s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\" "
                            "fill-opacity=\"%s\"/>\n", reach ? "revisit-reach" : "revisit", xa, PT, xb - xa, PB - PT,
                         reach ? REACH_FILL : REVISIT_FILL, reach ? "0.30" : "0.22");
        i = j + 1;
    }
    if (r->long_to > r->long_from) {
        double xa = clampx(px(a, r->long_from - 0.5)), xb = clampx(px(a, r->long_to - 0.5));
        int y = PT - 22;
        mv_tb_printf(b, "<path d=\"M%.1f %d v-5 H%.1f v5\" fill=\"none\" stroke=\"#6b7280\"/>\n", xa, y + 5, xb);
        mv_tb_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" class=\"note\">long horizon "
                        "(frames %d&#8211;%d)</text>\n", (xa + xb) / 2, y - 4, r->long_from, r->long_to - 1);
    }
    if (r->context_frames >= a->x0 && r->context_frames <= a->x1) {
        mv_tb_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#374151\" "
                        "stroke-dasharray=\"3 3\"/>\n", xc, PT, xc, PB);
        mv_tb_printf(b, "<text x=\"%.1f\" y=\"%d\" class=\"note\">generated &#8594;</text>\n", xc + 4, PT - 5);
    }
}

/* Band polygons and polylines of one curve, split at non-finite values. */
static void svg_curve(mv_textbuf *b, const mv_report *r, const plot_axes *a, int k, int metric) {
    const double *m = curve_of(&r->methods[k], metric, 0), *lo = curve_of(&r->methods[k], metric, 1),
                 *hi = curve_of(&r->methods[k], metric, 2);
    const char *color, *dash;
    mv_report_style(r, k, &color, &dash);
    if (!m) return;
    for (int i = 0; i < r->n_frames;) {
        if (!isfinite(m[i])) {
            i++;
            continue;
        }
        int j = i;
        while (j + 1 < r->n_frames && isfinite(m[j + 1])) j++;
        int band = lo && hi;
        for (int t = i; band && t <= j; t++) band = isfinite(lo[t]) && isfinite(hi[t]);
        if (band) {
            mv_tb_printf(b, "<polygon fill=\"%s\" fill-opacity=\"%s\" stroke=\"none\" points=\"", color,
                         r->methods[k].is_bound ? "0.10" : "0.16");
            for (int t = i; t <= j; t++) mv_tb_printf(b, "%.1f,%.1f ", px(a, r->first_frame + t), py(a, hi[t]));
            for (int t = j; t >= i; t--) mv_tb_printf(b, "%.1f,%.1f ", px(a, r->first_frame + t), py(a, lo[t]));
            mv_tb_printf(b, "\"/>\n");
        }
        if (j == i) {
            mv_tb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2\" fill=\"%s\"/>\n", px(a, r->first_frame + i),
                         py(a, m[i]), color);
        } else {
            mv_tb_printf(b, "<polyline class=\"curve\" fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s%s%s "
                            "stroke-linejoin=\"round\" points=\"", color, dash ? "1.6" : "2",
                         dash ? " stroke-dasharray=\"" : "", dash ? dash : "", dash ? "\"" : "");
            for (int t = i; t <= j; t++) mv_tb_printf(b, "%.1f,%.1f ", px(a, r->first_frame + t), py(a, m[t]));
            mv_tb_printf(b, "\"/>\n");
        }
        i = j + 1;
    }
}

/* Legend rows under the axis title: one entry per curve, then the shaded regions. b NULL: only counts the rows.
 * Returns the number of rows. */
static int svg_legend(mv_textbuf *b, const mv_report *r, const plot_axes *a) {
    enum { REVISIT, REACH, CONTEXT, NEXTRA };
    int shown[NEXTRA] = {r->n_revisit > r->n_revisit_reach, r->n_revisit_reach > 0, r->context_frames > a->x0};
    const char *extra[NEXTRA] = {r->n_revisit_reach > 0 ? "revisits" : "revisit frames", "revisits within reach",
                                 "context"};
    double x = PL, y = PB + 66;
    int rows = 1;
    for (int k = 0; k < r->n_methods + NEXTRA; k++) {
        int e = k - r->n_methods;
        if (e >= 0 && !shown[e]) continue;
        const char *name = e < 0 ? r->methods[k].name : extra[e];
        double wdt = 34 + 7.0 * (double)strlen(name) + 22;
        if (x + wdt > PR && x > PL) x = PL, y += 22, rows++;
        if (!b) {
            x += wdt;
            continue;
        }
        if (e < 0) {
            const char *color, *dash;
            mv_report_style(r, k, &color, &dash);
            mv_tb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%s\"%s%s%s/>\n",
                         x, y - 4, x + 26, y - 4, color, dash ? "1.6" : "2.5", dash ? " stroke-dasharray=\"" : "",
                         dash ? dash : "", dash ? "\"" : "");
        } else {
            mv_tb_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"26\" height=\"12\" fill=\"%s\"%s/>\n", x, y - 10,
                         e == REVISIT ? REVISIT_FILL : e == REACH ? REACH_FILL : "#eef0f3",
                         e == REVISIT ? " fill-opacity=\"0.35\"" : e == REACH ? " fill-opacity=\"0.45\"" :
                         " stroke=\"#d1d5db\"");
        }
        mv_tb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"legend\">", x + 34, y);
        mv_tb_escape(b, name);
        mv_tb_printf(b, "</text>\n");
        x += wdt;
    }
    return rows;
}

mv_status mv_report_svg(char **svg, const mv_report *r, int metric, const char *id_prefix) {
    *svg = NULL;
    if (r->n_frames < 1 || (metric != 0 && metric != 1))
        return mv_fail(MV_ERR_ARG, "report plot: needs at least one frame and metric 0 (PSNR) or 1 (SSIM)");
    mv_textbuf b = {0};
    plot_axes a = plot_axes_make(r, metric);
    const char *label = metric == 0 ? "PSNR (dB)" : "SSIM", *id = id_prefix ? id_prefix : "p";
    int height = MV_MAX(SVG_H, PB + 66 + 22 * (svg_legend(NULL, r, &a) - 1) + 16); /* room for every legend row */
    mv_tb_printf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
                     "role=\"img\" class=\"mv-plot\" id=\"%s-svg\" font-family=\"%s\">\n", SVG_W, height, SVG_W,
                 height, id, FONT);
    /* rules scoped to this SVG's id: an inlined <style> applies to the whole HTML page */
    mv_tb_printf(&b, "<title>%s per frame</title>\n<style>#%s-svg .tick{font-size:12px;fill:#374151}"
                     "#%s-svg .note{font-size:11px;fill:#4b5563}#%s-svg .legend{font-size:12.5px;fill:#111827}"
                     "#%s-svg .axis{font-size:13px;fill:#111827}</style>\n", label, id, id, id, id);
    mv_tb_printf(&b, "<defs><clipPath id=\"%s-clip\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>"
                     "</clipPath></defs>\n", id, PL, PT, PR - PL, PB - PT);
    mv_tb_printf(&b, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", SVG_W, height);
    mv_tb_printf(&b, "<text x=\"%d\" y=\"22\" font-size=\"15\" font-weight=\"bold\" fill=\"#111827\">%s per frame"
                     "%s</text>\n", PL, label, metric == 0 ? " (higher is better)" : " (higher is better, 1 = identical)");
    svg_regions(&b, r, &a);
    svg_grid_and_ticks(&b, &a);
    mv_tb_printf(&b, "<g clip-path=\"url(#%s-clip)\">\n", id);
    for (int k = 0; k < r->n_methods; k++)
        if (r->methods[k].is_bound) svg_curve(&b, r, &a, k, metric);
    for (int k = 0; k < r->n_methods; k++)
        if (!r->methods[k].is_bound) svg_curve(&b, r, &a, k, metric);
    mv_tb_printf(&b, "</g>\n<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>\n",
                 PL, PT, PR - PL, PB - PT);
    mv_tb_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" class=\"axis\">frame index</text>\n",
                 (PL + PR) / 2, PB + 40);
    mv_tb_printf(&b, "<text transform=\"translate(18 %d) rotate(-90)\" text-anchor=\"middle\" class=\"axis\">%s</text>\n",
                 (PT + PB) / 2, label);
    svg_legend(&b, r, &a);
    mv_tb_printf(&b, "</svg>\n");
    if (b.failed) {
        mv_tb_free(&b);
        return mv_fail(MV_ERR_NOMEM, "report plot: out of memory");
    }
    *svg = b.s;
    return MV_OK;
}

/* ---------------- training plots: loss and revisit recall against training tokens ---------------- */

typedef struct {
    double x0, x1, xstep; /* training tokens, millions */
    double y0, y1, ystep; /* ylog: y0, y1 > 0 and ystep unused */
    int ylog;
} xy_axes;

/* One legend entry: a line (dash NULL: solid) with an optional dot. */
typedef struct {
    const char *name, *color, *dash;
    int dot;
} legend_entry;

static double xy_px(const xy_axes *a, double x) { return PL + (x - a->x0) / (a->x1 - a->x0) * (PR - PL); }
static double xy_py(const xy_axes *a, double y) {
    if (a->ylog) return PB - (log10(y) - log10(a->y0)) / (log10(a->y1) - log10(a->y0)) * (PB - PT);
    return PB - (y - a->y0) / (a->y1 - a->y0) * (PB - PT);
}

const char *mv_report_bound_label(const char *name) {
    if (!strcmp(name, "hold_last")) return "hold last frame";
    if (!strcmp(name, "autoencoded")) return "autoencoded (upper bound)";
    if (!strcmp(name, "random_video") || !strcmp(name, "random")) return "random video (lower bound)";
    return name;
}

const char *mv_report_training_color(const mv_report *r, int run) {
    const mv_training *t = r->training;
    int n_methods = 0, unmatched = 0;
    for (int k = 0; k < r->n_methods; k++) n_methods += !r->methods[k].is_bound;
    for (int i = 0; i <= run; i++) {
        int match = -1;
        for (int k = 0; k < r->n_methods && match < 0; k++)
            if (!r->methods[k].is_bound && !strcmp(r->methods[k].name, t->runs[i].name)) match = k;
        if (i < run) {
            unmatched += match < 0;
            continue;
        }
        if (match >= 0) {
            const char *color, *dash;
            mv_report_style(r, match, &color, &dash);
            return color;
        }
    }
    return method_colors[(n_methods + unmatched) % MV_ARRAY_LEN(method_colors)];
}

/* Rounds a positive lo / hi out to 1, 2 or 5 times a power of ten. */
static double log_floor(double v) {
    double p = pow(10.0, floor(log10(v))), f = v / p;
    return (f >= 5 ? 5 : f >= 2 ? 2 : 1) * p;
}
static double log_ceil(double v) {
    double p = pow(10.0, floor(log10(v))), f = v / p;
    return (f <= 1 + 1e-12 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

static void xy_axes_finish(xy_axes *a, double lo, double hi, int ylog) {
    if (!(a->x1 > 0)) a->x1 = 1;
    a->x0 = 0;
    a->xstep = nice_step(a->x1 / 8.0);
    a->x1 = ceil(a->x1 / a->xstep - 1e-9) * a->xstep;
    if (!(lo <= hi)) lo = ylog ? 0.1 : 0, hi = 1;
    a->ylog = ylog;
    if (ylog) {
        a->y0 = log_floor(lo), a->y1 = log_ceil(hi);
        if (a->y1 <= a->y0) a->y1 = log_ceil(a->y0 * 1.01);
        return;
    }
    if (hi - lo < 1e-9) lo -= 1, hi += 1;
    a->ystep = nice_step((hi - lo) / 5.0);
    a->y0 = floor(lo / a->ystep) * a->ystep;
    a->y1 = ceil(hi / a->ystep) * a->ystep;
    if (a->y1 - hi < 0.02 * (a->y1 - a->y0)) a->y1 += a->ystep;
}

static void xy_grid(mv_textbuf *b, const xy_axes *a) {
    if (a->ylog) {
        int decades = (int)ceil(log10(a->y1 / a->y0) - 1e-9);
        static const double mant[3] = {1, 2, 5};
        for (double p = pow(10.0, floor(log10(a->y0) + 1e-9)); p <= a->y1 * (1 + 1e-9); p *= 10)
            for (int m = 0; m < 3; m++) {
                double v = mant[m] * p;
                if (v < a->y0 * (1 - 1e-9) || v > a->y1 * (1 + 1e-9) || (decades > 2 && m > 0)) continue;
                double y = xy_py(a, v);
                mv_tb_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e3e6ea\"/>\n", PL, y, PR, y);
                mv_tb_printf(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" class=\"tick\">%g</text>\n", PL - 7,
                             y + 4, v);
            }
    } else {
        int yd = step_decimals(a->ystep);
        for (double v = a->y0; v <= a->y1 + 1e-9 * a->ystep; v += a->ystep) {
            double y = xy_py(a, v);
            mv_tb_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e3e6ea\"/>\n", PL, y, PR, y);
            mv_tb_printf(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" class=\"tick\">%.*f</text>\n", PL - 7,
                         y + 4, yd, v);
        }
    }
    int xd = step_decimals(a->xstep);
    for (double v = a->x0; v <= a->x1 + 1e-9 * a->xstep; v += a->xstep) {
        double x = xy_px(a, v);
        mv_tb_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#f0f2f4\"/>\n", x, PT, x, PB);
        mv_tb_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#333\"/>\n", x, PB, x, PB + 5);
        mv_tb_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" class=\"tick\">%.*f</text>\n", x, PB + 19,
                     xd, v);
    }
}

/* Legend rows under the axis title (b NULL: only counts them). Returns the number of rows. */
static int xy_legend(mv_textbuf *b, const legend_entry *e, int n) {
    double x = PL, y = PB + 66;
    int rows = 1;
    for (int k = 0; k < n; k++) {
        double wdt = 34 + 7.0 * (double)strlen(e[k].name) + 22;
        if (x + wdt > PR && x > PL) x = PL, y += 22, rows++;
        if (b) {
            mv_tb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%s\"%s%s%s/>\n",
                         x, y - 4, x + 26, y - 4, e[k].color, e[k].dash ? "1.6" : "2.5",
                         e[k].dash ? " stroke-dasharray=\"" : "", e[k].dash ? e[k].dash : "", e[k].dash ? "\"" : "");
            if (e[k].dot) mv_tb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n", x + 13, y - 4,
                                       e[k].color);
            mv_tb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"legend\">", x + 34, y);
            mv_tb_escape(b, e[k].name);
            mv_tb_printf(b, "</text>\n");
        }
        x += wdt;
    }
    return rows;
}

/* The data ranges of a training plot. */
static void training_ranges(const mv_training *t, int which, double **smooth, xy_axes *a, double *lo, double *hi,
                            int *ylog) {
    a->x1 = 0, *lo = INFINITY, *hi = -INFINITY, *ylog = which == 0;
    for (int i = 0; i < t->n_runs; i++) {
        const mv_training_run *run = &t->runs[i];
        if (run->n > 0) a->x1 = fmax(a->x1, (double)run->step[run->n - 1] * run->tokens_per_step / 1e6);
        for (int j = 0; j < run->n_recall; j++) a->x1 = fmax(a->x1, run->recall[j].tokens / 1e6);
        if (which == 0) {
            for (int j = 0; j < run->n; j++) *lo = fmin(*lo, smooth[i][j]), *hi = fmax(*hi, smooth[i][j]);
        } else {
            for (int j = 0; j < run->n_recall; j++) {
                const mv_training_recall *p = &run->recall[j];
                *lo = fmin(*lo, isfinite(p->lo) ? p->lo : p->mean), *hi = fmax(*hi, isfinite(p->hi) ? p->hi : p->mean);
            }
        }
    }
    if (which == 1)
        for (int k = 0; k < t->n_bounds; k++) *lo = fmin(*lo, t->bounds[k].mean), *hi = fmax(*hi, t->bounds[k].mean);
    if (which == 0 && !(*lo > 0)) *ylog = 0; /* a zero loss: no log axis */
}

/* The curves of one plot; legend entries into e (at most n_runs + bounds). */
static int training_curves(mv_textbuf *b, const mv_report *r, int which, double **smooth, const xy_axes *a,
                           legend_entry *e, char (*names)[112]) {
    const mv_training *t = r->training;
    int ne = 0, n_series = 0, series = 0;
    for (int i = 0; i < t->n_runs; i++) n_series += (which == 0 ? t->runs[i].n : t->runs[i].n_recall) > 0;
    if (which == 1)
        for (int k = 0; k < t->n_bounds; k++) {
            const char *color = bound_colors[k % MV_ARRAY_LEN(bound_colors)], *dash = bound_dash[k % MV_ARRAY_LEN(bound_dash)];
            double y = xy_py(a, t->bounds[k].mean);
            mv_tb_printf(b, "<line class=\"bound\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" "
                            "stroke-width=\"1.6\" stroke-dasharray=\"%s\"/>\n", PL, y, PR, y, color, dash);
            e[ne++] = (legend_entry){mv_report_bound_label(t->bounds[k].name), color, dash, 0};
        }
    for (int i = 0; i < t->n_runs; i++) {
        const mv_training_run *run = &t->runs[i];
        const char *color = mv_report_training_color(r, i);
        int n = which == 0 ? run->n : run->n_recall;
        if (n == 0) continue;
        /* recall: the series side by side (7 px apart) around each probe's x, so that their bars do not overlap */
        double dx = which == 1 ? 7.0 * (series - (n_series - 1) / 2.0) : 0.0;
        series++;
        if (strcmp(run->name, run->method)) snprintf(names[i], 112, "%s (%s)", run->name, run->method);
        else snprintf(names[i], 112, "%s", run->name);
        e[ne++] = (legend_entry){names[i], color, NULL, which == 1};
        mv_tb_printf(b, "<g class=\"series\" data-run=\"");
        mv_tb_escape(b, run->name);
        mv_tb_printf(b, "\">\n");
        if (which == 1)
            for (int j = 0; j < n; j++) { /* 95% interval bars with caps */
                const mv_training_recall *p = &run->recall[j];
                if (!isfinite(p->lo) || !isfinite(p->hi)) continue;
                double x = xy_px(a, p->tokens / 1e6) + dx, y0 = xy_py(a, p->lo), y1 = xy_py(a, p->hi);
                mv_tb_printf(b, "<path class=\"ci\" d=\"M%.1f %.1f V%.1f M%.1f %.1f h8 M%.1f %.1f h8\" stroke=\"%s\" "
                                "stroke-width=\"1.4\" fill=\"none\"/>\n", x, y0, y1, x - 4, y0, x - 4, y1, color);
            }
        if (n > 1) {
            mv_tb_printf(b, "<polyline class=\"curve\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                            "stroke-linejoin=\"round\" points=\"", color);
            for (int j = 0; j < n; j++) {
                double x = which == 0 ? (double)run->step[j] * run->tokens_per_step / 1e6 : run->recall[j].tokens / 1e6;
                mv_tb_printf(b, "%.1f,%.1f ", xy_px(a, x) + dx, xy_py(a, which == 0 ? smooth[i][j] : run->recall[j].mean));
            }
            mv_tb_printf(b, "\"/>\n");
        }
        for (int j = 0; j < n && (which == 1 || n == 1); j++) {
            double x = which == 0 ? (double)run->step[j] * run->tokens_per_step / 1e6 : run->recall[j].tokens / 1e6;
            mv_tb_printf(b, "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n", xy_px(a, x) + dx,
                         xy_py(a, which == 0 ? smooth[i][j] : run->recall[j].mean), color);
        }
        mv_tb_printf(b, "</g>\n");
    }
    return ne;
}

mv_status mv_report_training_svg(char **svg, const mv_report *r, int which, const char *id_prefix) {
    *svg = NULL;
    const mv_training *t = r->training;
    if (!t || t->n_runs < 1 || (which != 0 && which != 1))
        return mv_fail(MV_ERR_ARG, "report training plot: needs a training campaign and plot 0 (loss) or 1 (recall)");
    mv_textbuf b = {0};
    double **smooth = calloc((size_t)t->n_runs, sizeof *smooth);
    legend_entry *e = calloc((size_t)(t->n_runs + MV_TRAINING_MAX_BOUNDS), sizeof *e);
    char(*names)[112] = calloc((size_t)t->n_runs, sizeof *names);
    int nomem = !smooth || !e || !names;
    for (int i = 0; !nomem && i < t->n_runs; i++) {
        nomem = !(smooth[i] = malloc(sizeof(double) * (size_t)(t->runs[i].n > 0 ? t->runs[i].n : 1)));
        if (!nomem) mv_training_smooth(smooth[i], &t->runs[i], MV_TRAINING_SMOOTH);
    }
    mv_status s = MV_OK;
    if (nomem) {
        s = mv_fail(MV_ERR_NOMEM, "report training plot: out of memory");
        goto fail;
    }
    xy_axes a = {0};
    double lo, hi;
    int ylog;
    training_ranges(t, which, smooth, &a, &lo, &hi, &ylog);
    xy_axes_finish(&a, lo, hi, ylog);
    const char *id = id_prefix ? id_prefix : "t";
    /* the curves first (into c), so that the legend knows its entries and the height its rows */
    mv_textbuf c = {0};
    int ne = training_curves(&c, r, which, smooth, &a, e, names);
    int height = MV_MAX(SVG_H, PB + 66 + 22 * (xy_legend(NULL, e, ne) - 1) + 16);
    mv_tb_printf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
                     "role=\"img\" class=\"mv-train-plot\" id=\"%s-svg\" font-family=\"%s\">\n", SVG_W, height, SVG_W,
                 height, id, FONT);
    mv_tb_printf(&b, "<title>%s against training tokens</title>\n<style>#%s-svg .tick{font-size:12px;fill:#374151}"
                     "#%s-svg .note{font-size:11px;fill:#4b5563}#%s-svg .legend{font-size:12.5px;fill:#111827}"
                     "#%s-svg .axis{font-size:13px;fill:#111827}</style>\n", which == 0 ? "Training v-loss" :
                 "Revisit recall PSNR", id, id, id, id);
    mv_tb_printf(&b, "<defs><clipPath id=\"%s-clip\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>"
                     "</clipPath></defs>\n", id, PL - 6, PT - 6, PR - PL + 12, PB - PT + 12);
    mv_tb_printf(&b, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", SVG_W, height);
    if (which == 0)
        mv_tb_printf(&b, "<text x=\"%d\" y=\"22\" font-size=\"15\" font-weight=\"bold\" fill=\"#111827\">Training "
                         "v-loss (mean of the last %d logged values; lower is better)</text>\n", PL, MV_TRAINING_SMOOTH);
    else if (t->n_probes)
        mv_tb_printf(&b, "<text x=\"%d\" y=\"22\" font-size=\"15\" font-weight=\"bold\" fill=\"#111827\">Revisit "
                         "recall: PSNR of %d generated frames (95%% interval; higher is better)</text>\n", PL,
                     t->probe_horizon);
    else
        mv_tb_printf(&b, "<text x=\"%d\" y=\"22\" font-size=\"15\" font-weight=\"bold\" fill=\"#111827\">Revisit "
                         "recall PSNR</text>\n", PL);
    if (which == 1 && t->n_probes == 0)
        mv_tb_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" class=\"note\">no probe results in "
                         "probes/ yet</text>\n", (PL + PR) / 2, (PT + PB) / 2);
    xy_grid(&b, &a);
    mv_tb_printf(&b, "<g clip-path=\"url(#%s-clip)\">\n%s</g>\n", id, c.s ? c.s : "");
    b.failed |= c.failed;
    mv_tb_free(&c);
    mv_tb_printf(&b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>\n", PL, PT,
                 PR - PL, PB - PT);
    mv_tb_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" class=\"axis\">training tokens (millions)</text>\n",
                 (PL + PR) / 2, PB + 40);
    mv_tb_printf(&b, "<text transform=\"translate(18 %d) rotate(-90)\" text-anchor=\"middle\" class=\"axis\">%s</text>\n",
                 (PT + PB) / 2, which == 0 ? (a.ylog ? "v-loss (log scale)" : "v-loss") : "PSNR (dB)");
    xy_legend(&b, e, ne);
    mv_tb_printf(&b, "</svg>\n");
    if (b.failed) {
        mv_tb_free(&b);
        s = mv_fail(MV_ERR_NOMEM, "report training plot: out of memory");
        goto fail;
    }
    *svg = b.s;
fail:
    for (int i = 0; smooth && i < t->n_runs; i++) free(smooth[i]);
    free(smooth), free(e), free(names);
    return s;
}
