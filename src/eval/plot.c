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
