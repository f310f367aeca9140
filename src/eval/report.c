/* The evaluation report (summary.md, plot_*.svg, report.html) and the bootstrap helpers; see report.h. */
#include "eval/report.h"

#include <errno.h>
#include <math.h>

#include "core/core.h"
#include "core/rng.h"
#include "eval/report_internal.h"
#include "eval/textbuf.h"

/* ---------------- bootstrap ---------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.percentile(v, q) with linear interpolation; v sorted, n >= 1. */
static double percentile_sorted(const double *v, int n, double q) {
    double pos = q / 100.0 * (n - 1);
    int i = (int)floor(pos);
    if (i >= n - 1) return v[n - 1];
    return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

/* Bootstrap with a given stream; means: [resamples] scratch. */
static void bootstrap_run(mv_ci *out, const double *x, int n, int resamples, mv_rng *rng, double *means,
                          size_t stride) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += x[i * stride];
    out->mean = s / n;
    if (n == 1) {
        out->lo = out->hi = out->mean;
        return;
    }
    for (int b = 0; b < resamples; b++) {
        double t = 0.0;
        for (int i = 0; i < n; i++) t += x[mv_rng_below(rng, (uint32_t)n) * stride];
        means[b] = t / n;
    }
    qsort(means, (size_t)resamples, sizeof(double), cmp_double);
    out->lo = percentile_sorted(means, resamples, 2.5);
    out->hi = percentile_sorted(means, resamples, 97.5);
}

mv_status mv_bootstrap_ci(mv_ci *out, const double *x, int n, int resamples, uint64_t seed) {
    out->mean = out->lo = out->hi = NAN;
    if (n < 1) return mv_fail(MV_ERR_ARG, "bootstrap: needs at least one value, got %d", n);
    for (int i = 0; i < n; i++)
        if (!isfinite(x[i])) return mv_fail(MV_ERR_ARG, "bootstrap: value %d of %d is not finite (%g)", i, n, x[i]);
    if (resamples <= 0) resamples = 1000;
    double *means = malloc(sizeof(double) * (size_t)resamples);
    if (!means) return mv_fail(MV_ERR_NOMEM, "bootstrap: out of memory");
    mv_rng rng;
    mv_rng_init(&rng, seed);
    bootstrap_run(out, x, n, resamples, &rng, means, 1);
    free(means);
    return MV_OK;
}

mv_status mv_bootstrap_curves(double *mean, double *lo, double *hi, const double *x, int n_videos, int n_frames,
                              int resamples, uint64_t seed) {
    if (n_videos < 1 || n_frames < 0)
        return mv_fail(MV_ERR_ARG, "bootstrap: needs at least one video, got %d videos x %d frames", n_videos, n_frames);
    if (resamples <= 0) resamples = 1000;
    mv_rng base;
    mv_rng_init(&base, seed);
    int nomem = 0;
#pragma omp parallel reduction(|| : nomem)
    {
        double *means = malloc(sizeof(double) * (size_t)resamples);
        nomem = !means;
#pragma omp for schedule(static)
        for (int f = 0; f < n_frames; f++) {
            mv_ci ci = {NAN, NAN, NAN};
            int finite = 1;
            for (int v = 0; v < n_videos; v++) finite &= isfinite(x[(size_t)v * n_frames + f]);
            if (finite && means) {
                mv_rng rng = mv_rng_fork(&base, (uint64_t)f);
                bootstrap_run(&ci, x + f, n_videos, resamples, &rng, means, (size_t)n_frames);
            }
            mean[f] = ci.mean;
            if (lo) lo[f] = ci.lo;
            if (hi) hi[f] = ci.hi;
        }
        free(means);
    }
    return nomem ? mv_fail(MV_ERR_NOMEM, "bootstrap: out of memory") : MV_OK;
}

void mv_report_method_init(mv_report_method *m) {
    memset(m, 0, sizeof *m);
    mv_ci none = {NAN, NAN, NAN};
    m->psnr_all = m->psnr_long = m->psnr_revisit = m->psnr_reach = none;
    m->ssim_all = m->ssim_long = m->ssim_revisit = m->ssim_reach = none;
    m->dit_calls = m->tokens_per_step = -1;
    m->wall_seconds = NAN;
}

static int count_bounds(const mv_report *r) {
    int n = 0;
    for (int k = 0; k < r->n_methods; k++) n += r->methods[k].is_bound != 0;
    return n;
}

/* ---------------- summary table ---------------- */

typedef struct {
    const char *head;
    int metric; /* 0 PSNR, 1 SSIM */
} table_col;

#define NCOLS 8        /* metric columns */
#define COLS_METRIC 4  /* of which per metric: all, long horizon, revisits, revisits in reach */

static const table_col metric_cols[NCOLS] = {
    {"all", 0}, {"long horizon", 0}, {"revisits", 0}, {"revisits in reach", 0},
    {"all", 1}, {"long horizon", 1}, {"revisits", 1}, {"revisits in reach", 1},
};

static mv_ci method_ci(const mv_report_method *m, int col) {
    const mv_ci *c[NCOLS] = {&m->psnr_all, &m->psnr_long, &m->psnr_revisit, &m->psnr_reach,
                             &m->ssim_all, &m->ssim_long, &m->ssim_revisit, &m->ssim_reach};
    return *c[col];
}

static int col_decimals(int col) { return metric_cols[col].metric == 0 ? 2 : 3; }

/* Index of the best (highest) finite mean among methods (not bounds) in column col, or -1. */
static int best_method(const mv_report *r, int col) {
    int best = -1;
    for (int k = 0; k < r->n_methods; k++) {
        double v = method_ci(&r->methods[k], col).mean;
        if (!r->methods[k].is_bound && isfinite(v) && (best < 0 || v > method_ci(&r->methods[best], col).mean))
            best = k;
    }
    return best;
}

static void fmt_count(char *buf, size_t n, long v) {
    if (v < 0) snprintf(buf, n, "–");
    else snprintf(buf, n, "%ld", v);
}

static void fmt_seconds(char *buf, size_t n, double s) {
    if (!isfinite(s)) snprintf(buf, n, "–");
    else if (s < 100) snprintf(buf, n, "%.1f", s);
    else snprintf(buf, n, "%.0f", s);
}

/* Markdown escaping of a table cell: |, line breaks, and < > (GitHub would read them as HTML). */
static void md_cell(mv_textbuf *b, const char *s) {
    for (; s && *s; s++) {
        if (*s == '|') mv_tb_printf(b, "\\|");
        else if (*s == '\n') mv_tb_printf(b, " ");
        else if (*s == '<') mv_tb_printf(b, "&lt;");
        else if (*s == '>') mv_tb_printf(b, "&gt;");
        else mv_tb_printf(b, "%c", *s);
    }
}

static int has_bound(const mv_report *r, const char *prefix) {
    for (int k = 0; k < r->n_methods; k++)
        if (r->methods[k].is_bound && !strncmp(r->methods[k].name, prefix, strlen(prefix))) return 1;
    return 0;
}

/* One sentence per bound the report holds, found by the start of its name. */
static void explain_bounds(mv_textbuf *b, const mv_report *r) {
    if (!count_bounds(r)) return;
    mv_tb_printf(b, " Bounds:");
    int n = 0;
    if (has_bound(r, "autoencoded"))
        mv_tb_printf(b, "%s the *autoencoded* ground truth is the best any method can score through the autoencoder",
                     n++ ? ";" : "");
    if (has_bound(r, "random"))
        mv_tb_printf(b, "%s a *random video* (another test video at the same frame index) is what an unrelated video "
                        "of the same world scores", n++ ? ";" : "");
    if (has_bound(r, "hold last"))
        mv_tb_printf(b, "%s *hold last context frame* (the last ground-truth context frame, repeated) is what a model "
                        "that stops moving scores", n++ ? ";" : "");
    mv_tb_printf(b, "%s", n ? "." : " dashed grey lines.");
}

static void explain_ranges(mv_textbuf *b, const mv_report *r, int html) {
    int last = r->first_frame + r->n_frames - 1;
    mv_tb_printf(b, "Every method gets the same %d ground-truth context frames and the ground-truth actions, then "
                    "generates frames %d–%d, compared frame by frame with the ground truth",
                 r->context_frames, r->context_frames, last);
    mv_tb_printf(b, " (%d test video%s). ", r->n_videos_evaluated, r->n_videos_evaluated == 1 ? "" : "s");
    mv_tb_printf(b, "%sPSNR%s (dB) measures pixel error, %sSSIM%s (0 to 1) local structure; higher is better for both. ",
                 html ? "<b>" : "**", html ? "</b>" : "**", html ? "<b>" : "**", html ? "</b>" : "**");
    if (r->long_to > r->long_from)
        mv_tb_printf(b, "*Long horizon* averages frames %d–%d. ", r->long_from, r->long_to - 1);
    mv_tb_printf(b, "*Revisits* averages the generated frames whose camera returns to a place seen in the context, "
                    "where a model with long-range memory should recall what it saw. ");
    mv_tb_printf(b, "*Revisits in reach* averages only those whose matching context frame lies ");
    const char *reach = r->reach_text ? r->reach_text : "within what a method's rollout sees when it generates them";
    if (html) mv_tb_escape(b, reach);
    else mv_tb_printf(b, "%s", reach);
    mv_tb_printf(b, ". ");
    if (r->revisit_count && r->reach_count) {
        mv_tb_printf(b, "Revisit frames per test video: ");
        for (int v = 0; v < r->n_videos_evaluated; v++) mv_tb_printf(b, "%s%d", v ? ", " : "", r->revisit_count[v]);
        mv_tb_printf(b, " (in reach: ");
        for (int v = 0; v < r->n_videos_evaluated; v++) mv_tb_printf(b, "%s%d", v ? ", " : "", r->reach_count[v]);
        mv_tb_printf(b, "). ");
    }
    mv_tb_printf(b, "Brackets: 95%% bootstrap interval over test videos.");
    explain_bounds(b, r);
}

static mv_status write_text_file(const char *dir, const char *name, const mv_textbuf *b) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (b->failed) return mv_fail(MV_ERR_NOMEM, "%s: out of memory while formatting", path);
    FILE *f = fopen(path, "wb");
    if (!f) return mv_fail(MV_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
    size_t ok = fwrite(b->s ? b->s : "", 1, b->len, f);
    int rc = fclose(f);
    if (ok != b->len || rc != 0) return mv_fail(MV_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return MV_OK;
}

static void summary_md(mv_textbuf *b, const mv_report *r) {
    mv_tb_printf(b, "### ");
    md_cell(b, r->title);
    mv_tb_printf(b, "\n\n| method |");
    for (int c = 0; c < NCOLS; c++)
        mv_tb_printf(b, " %s %s |", metric_cols[c].metric ? "SSIM" : "PSNR", metric_cols[c].head);
    mv_tb_printf(b, " DiT calls | tokens / step | wall (s) |\n|---|");
    for (int c = 0; c < NCOLS + 3; c++) mv_tb_printf(b, "---:|");
    mv_tb_printf(b, "\n");
    for (int k = 0; k < r->n_methods; k++) {
        const mv_report_method *m = &r->methods[k];
        mv_tb_printf(b, "| %s", m->is_bound ? "*" : "");
        md_cell(b, m->name);
        mv_tb_printf(b, "%s |", m->is_bound ? "*" : "");
        for (int c = 0; c < NCOLS; c++) {
            mv_ci ci = method_ci(m, c);
            int d = col_decimals(c), best = best_method(r, c) == k;
            if (!isfinite(ci.mean)) mv_tb_printf(b, " – |");
            else if (isfinite(ci.lo) && isfinite(ci.hi) && ci.hi > ci.lo)
                mv_tb_printf(b, " %s%.*f%s [%.*f, %.*f] |", best ? "**" : "", d, ci.mean, best ? "**" : "", d,
                             ci.lo, d, ci.hi);
            else mv_tb_printf(b, " %s%.*f%s |", best ? "**" : "", d, ci.mean, best ? "**" : "");
        }
        char c1[32], c2[32], c3[32];
        fmt_count(c1, sizeof c1, m->dit_calls), fmt_count(c2, sizeof c2, m->tokens_per_step);
        fmt_seconds(c3, sizeof c3, m->wall_seconds);
        mv_tb_printf(b, " %s | %s | %s |\n", c1, c2, c3);
    }
    mv_tb_printf(b, "\n");
    explain_ranges(b, r, 0);
    mv_tb_printf(b, " Bold: best method per column. DiT calls are per test video.\n");
}

/* ---------------- HTML ---------------- */

static const char *const page_css =
    "*{box-sizing:border-box}"
    "body{margin:0;background:#f5f6f8;color:#1f2937;font:15px/1.55 'DejaVu Sans',Helvetica,Arial,sans-serif}"
    "main{max-width:1280px;margin:0 auto;padding:28px 28px 60px}"
    "header{border-bottom:3px solid #0b6bcb;margin-bottom:18px;padding-bottom:10px}"
    "h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:30px 0 10px}"
    ".sub{color:#6b7280;margin:0}"
    ".card{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:16px 20px;"
    "box-shadow:0 1px 2px rgba(0,0,0,.04)}"
    ".explain p{margin:0}"
    ".table-wrap{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:13.5px}"
    "th,td{padding:5px 6px;border-bottom:1px solid #e5e7eb;text-align:right;white-space:nowrap}"
    "th{background:#f9fafb;font-weight:600;color:#374151;white-space:normal;vertical-align:bottom}"
    "thead tr:first-child th{border-bottom:none;text-align:center;font-size:14px;color:#111827}"
    "th.grp{border-left:1px solid #e5e7eb}td.grp{border-left:1px solid #f0f1f3}"
    "td:first-child,th:first-child{text-align:left;white-space:normal;min-width:170px}"
    "tr.bound td{color:#4b5563;background:#fafafa;font-style:italic}"
    "td b{color:#0b6bcb}"
    ".ci{display:block;font-size:11.5px;color:#9ca3af}"
    ".swatch{display:inline-block;width:18px;height:3px;vertical-align:middle;margin-right:8px}"
    ".plots{display:grid;grid-template-columns:1fr;gap:16px}"
    ".plots figure,.videos figure{margin:0}"
    "svg.mv-plot,svg.mv-train-plot{width:100%;max-width:980px;height:auto;display:block;margin:0 auto}"
    "code{font-size:13px;background:#f3f4f6;padding:1px 4px;border-radius:4px}"
    ".videos{display:grid;gap:16px}"
    "video{width:100%;display:block;background:#111;border-radius:6px;image-rendering:pixelated}"
    "figcaption{font-size:13px;color:#4b5563;margin-top:6px}"
    "details summary{cursor:pointer;font-weight:600}"
    "pre{background:#0f172a;color:#e2e8f0;padding:12px;border-radius:8px;overflow:auto;max-height:420px;"
    "font-size:12.5px}"
    "footer{margin-top:36px;color:#9ca3af;font-size:12.5px}"
    ".fine{font-size:12.5px;color:#6b7280;margin:8px 0 0}";

/* Shows the verdict of ?selftest=1: every video loaded (duration, size) or failed, the table, the plots. */
static const char *const selftest_js =
    "(function(){if(!/[?&]selftest=1\\b/.test(location.search))return;"
    "var vids=Array.prototype.slice.call(document.querySelectorAll('video')),res=[],left=vids.length,done=false;"
    "function finish(){if(done)return;done=true;var out={videos:res,"
    "table_rows:document.querySelectorAll('#mv-summary tbody tr').length,"
    "plots:Array.prototype.map.call(document.querySelectorAll('svg.mv-plot'),function(s){"
    "var r=s.getBoundingClientRect();return{id:s.id,width:r.width,height:r.height,"
    "curves:s.querySelectorAll('polyline.curve').length}}),"
    "training:{rows:document.querySelectorAll('#mv-training tbody tr').length,"
    "plots:Array.prototype.map.call(document.querySelectorAll('svg.mv-train-plot'),function(s){"
    "var r=s.getBoundingClientRect();return{id:s.id,width:r.width,height:r.height,"
    "series:s.querySelectorAll('g.series').length}})}};"
    "var pre=document.createElement('pre');pre.id='mv-selftest';pre.style.display='none';"
    "pre.textContent=JSON.stringify(out);document.body.appendChild(pre);document.title='mv-selftest-done';}"
    "vids.forEach(function(v,i){var seen=false;res[i]={src:v.getAttribute('src'),state:'pending'};"
    "function ok(){if(seen)return;seen=true;res[i]={src:v.getAttribute('src'),state:'loaded',"
    "duration:v.duration,width:v.videoWidth,height:v.videoHeight};if(--left===0)finish();}"
    "function bad(){if(seen)return;seen=true;res[i]={src:v.getAttribute('src'),state:'error',"
    "code:v.error?v.error.code:0};if(--left===0)finish();}"
    "if(v.readyState>=1)ok();else if(v.error)bad();else{v.addEventListener('loadedmetadata',ok);"
    "v.addEventListener('error',bad);}});"
    "if(left===0)finish();setTimeout(finish,20000);})();";

static void html_ci(mv_textbuf *b, mv_ci ci, int d, int best, int group_start) {
    mv_tb_printf(b, "<td%s>", group_start ? " class=\"grp\"" : "");
    if (!isfinite(ci.mean)) mv_tb_printf(b, "–");
    else mv_tb_printf(b, "%s%.*f%s", best ? "<b>" : "", d, ci.mean, best ? "</b>" : "");
    if (isfinite(ci.mean) && isfinite(ci.lo) && isfinite(ci.hi) && ci.hi > ci.lo)
        mv_tb_printf(b, "<span class=\"ci\">[%.*f, %.*f]</span>", d, ci.lo, d, ci.hi);
    mv_tb_printf(b, "</td>");
}

static void html_table(mv_textbuf *b, const mv_report *r) {
    mv_tb_printf(b, "<div class=\"table-wrap\"><table id=\"mv-summary\"><thead><tr><th></th>"
                    "<th colspan=\"%d\" class=\"grp\">PSNR (dB) &#8593;</th><th colspan=\"%d\" class=\"grp\">SSIM "
                    "&#8593;</th><th colspan=\"3\" class=\"grp\">cost</th></tr><tr><th>method</th>", COLS_METRIC,
                 COLS_METRIC);
    for (int c = 0; c < NCOLS; c++)
        mv_tb_printf(b, "<th%s>%s</th>", c % COLS_METRIC ? "" : " class=\"grp\"", metric_cols[c].head);
    mv_tb_printf(b, "<th class=\"grp\">DiT calls</th><th>tokens / step</th><th>wall (s)</th></tr></thead><tbody>\n");
    for (int k = 0; k < r->n_methods; k++) {
        const mv_report_method *m = &r->methods[k];
        const char *color, *dash;
        mv_report_style(r, k, &color, &dash);
        mv_tb_printf(b, "<tr%s><td><span class=\"swatch\" style=\"background:%s%s%s\"></span>",
                     m->is_bound ? " class=\"bound\"" : "", dash ? "repeating-linear-gradient(90deg," : "", color,
                     dash ? " 0 5px,transparent 5px 8px)" : "");
        mv_tb_escape(b, m->name);
        mv_tb_printf(b, "</td>");
        for (int c = 0; c < NCOLS; c++)
            html_ci(b, method_ci(m, c), col_decimals(c), best_method(r, c) == k, c % COLS_METRIC == 0);
        char c1[32], c2[32], c3[32];
        fmt_count(c1, sizeof c1, m->dit_calls), fmt_count(c2, sizeof c2, m->tokens_per_step);
        fmt_seconds(c3, sizeof c3, m->wall_seconds);
        mv_tb_printf(b, "<td class=\"grp\">%s</td><td>%s</td><td>%s</td></tr>\n", c1, c2, c3);
    }
    mv_tb_printf(b, "</tbody></table></div>\n<p class=\"fine\">DiT calls per test video; wall time for the whole "
                    "evaluation of a method.</p>\n");
}

/* Converts the *emphasis* of explain_ranges into <i> for HTML. */
static void html_explain(mv_textbuf *b, const mv_report *r) {
    mv_textbuf t = {0};
    explain_ranges(&t, r, 1);
    int open = 0;
    for (size_t i = 0; t.s && i < t.len; i++) {
        if (t.s[i] == '*') mv_tb_printf(b, (open = !open) ? "<i>" : "</i>");
        else mv_tb_printf(b, "%c", t.s[i]);
    }
    b->failed |= t.failed;
    mv_tb_free(&t);
}

/* ---------------- training section ---------------- */

/* n with thousands separators ("10,240"). */
static void fmt_thousands(char *buf, size_t cap, long n) {
    char raw[32];
    int len = snprintf(raw, sizeof raw, "%ld", n < 0 ? -n : n), o = 0;
    if (n < 0 && o + 1 < (int)cap) buf[o++] = '-';
    for (int i = 0; i < len && o + 2 < (int)cap; i++) {
        buf[o++] = raw[i];
        if ((len - i - 1) % 3 == 0 && i < len - 1) buf[o++] = ',';
    }
    buf[o] = 0;
}

/* The cells of one run: latest step, tokens (M), batch x tokens per sample, loss tail, latest recall. */
typedef struct {
    char step[32], tokens[32], per_step[64], loss[32], recall[96], probed[32];
} training_cells;

static void training_row(training_cells *c, const mv_training_run *run) {
    long last = run->n ? run->step[run->n - 1] : -1;
    char tps[32];
    fmt_thousands(tps, sizeof tps, run->tokens_per_step);
    if (last >= 0) fmt_thousands(c->step, sizeof c->step, last);
    else snprintf(c->step, sizeof c->step, "–");
    if (last >= 0) snprintf(c->tokens, sizeof c->tokens, "%.2f", (double)last * run->tokens_per_step / 1e6);
    else snprintf(c->tokens, sizeof c->tokens, "–");
    snprintf(c->per_step, sizeof c->per_step, "%d × %d = %s", run->batch, run->sample_tokens, tps);
    double tail = mv_training_loss_tail(run, MV_TRAINING_SMOOTH);
    if (isfinite(tail)) snprintf(c->loss, sizeof c->loss, "%.4f", tail);
    else snprintf(c->loss, sizeof c->loss, "–");
    if (run->n_recall) {
        const mv_training_recall *p = &run->recall[run->n_recall - 1];
        if (isfinite(p->lo)) snprintf(c->recall, sizeof c->recall, "%.2f [%.2f, %.2f]", p->mean, p->lo, p->hi);
        else snprintf(c->recall, sizeof c->recall, "%.2f", p->mean);
        fmt_thousands(c->probed, sizeof c->probed, p->step);
    } else {
        snprintf(c->recall, sizeof c->recall, "–");
        snprintf(c->probed, sizeof c->probed, "–");
    }
}

/* Where the numbers come from (HTML or Markdown). */
static void training_explain(mv_textbuf *b, const mv_training *t, int html) {
    const char *code0 = html ? "<code>" : "`", *code1 = html ? "</code>" : "`";
    mv_tb_printf(b, "From %s", code0);
    if (html) mv_tb_escape(b, t->dir);
    else mv_tb_printf(b, "%s", t->dir);
    mv_tb_printf(b, "%s: the loss log of each of its %d run%s (dit_%sname%s.log.jsonl) and %d probe file%s "
                    "(probes/step_*.json). Training tokens = step × batch × tokens per training sample, from each "
                    "run's checkpoint. The v-loss curve and the table average the last %d logged values. ", code1,
                 t->n_runs, t->n_runs == 1 ? "" : "s", html ? "&lt;" : "<", html ? "&gt;" : ">", t->n_probes,
                 t->n_probes == 1 ? "" : "s", MV_TRAINING_SMOOTH);
    if (!t->n_probes) {
        mv_tb_printf(b, "No probe results yet, so no recall.");
        return;
    }
    mv_tb_printf(b, "Revisit recall (%smillivid probe%s", code0, code1);
    if (t->probe_data[0]) {
        mv_tb_printf(b, " on ");
        if (html) mv_tb_escape(b, t->probe_data);
        else mv_tb_printf(b, "%s", t->probe_data);
    }
    mv_tb_printf(b, "): each method gets the ground-truth history up to a frame where the camera returns to a "
                    "place it saw, generates the next %d frames, and they are compared with the ground truth; mean "
                    "PSNR over %d revisit points on %d validation videos, %d sampler steps (latest probe, step %ld), "
                    "with its 95%% interval over points.", t->probe_horizon, t->probe_points, t->probe_videos,
                 t->probe_sample_steps, t->probe_step);
    if (t->n_bounds) {
        mv_tb_printf(b, " Grey dashed lines: that probe's bounds at the same points (");
        for (int k = 0; k < t->n_bounds; k++) {
            mv_tb_printf(b, "%s", k ? ", " : "");
            if (html) mv_tb_escape(b, mv_report_bound_label(t->bounds[k].name));
            else md_cell(b, mv_report_bound_label(t->bounds[k].name));
        }
        mv_tb_printf(b, ").");
    }
    mv_tb_printf(b, " The probe samples with its own settings, so its numbers are not those of the evaluation "
                    "above.");
}

static void html_training(mv_textbuf *b, const mv_report *r, const char *svg_loss, const char *svg_recall) {
    const mv_training *t = r->training;
    mv_tb_printf(b, "<h2>Training</h2>\n<section class=\"card explain\" id=\"mv-training-caption\"><p>");
    training_explain(b, t, 1);
    mv_tb_printf(b, "</p></section>\n<div class=\"card\" style=\"margin-top:16px\"><div class=\"table-wrap\">"
                    "<table id=\"mv-training\"><thead><tr><th>run</th><th>method</th><th>latest step</th>"
                    "<th>training tokens (M)</th><th>batch × tokens per sample</th><th>v-loss (last %d)</th>"
                    "<th>revisit recall PSNR (dB) [95%%]</th><th>probed at step</th></tr></thead><tbody>\n",
                 MV_TRAINING_SMOOTH);
    for (int i = 0; i < t->n_runs; i++) {
        training_cells c;
        training_row(&c, &t->runs[i]);
        mv_tb_printf(b, "<tr><td><span class=\"swatch\" style=\"background:%s\"></span>",
                     mv_report_training_color(r, i));
        mv_tb_escape(b, t->runs[i].name);
        mv_tb_printf(b, "</td><td>");
        mv_tb_escape(b, t->runs[i].method);
        mv_tb_printf(b, "</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n", c.step,
                     c.tokens, c.per_step, c.loss, c.recall, c.probed);
    }
    mv_tb_printf(b, "</tbody></table></div></div>\n<div class=\"plots\" style=\"margin-top:16px\">"
                    "<figure class=\"card\">%s</figure><figure class=\"card\">%s</figure></div>\n", svg_loss,
                 svg_recall);
}

static void summary_training(mv_textbuf *b, const mv_training *t) {
    mv_tb_printf(b, "\n### Training\n\n| run | method | latest step | training tokens (M) | batch × tokens per sample | "
                    "v-loss (last %d) | revisit recall PSNR (dB) [95%%] | probed at step |\n"
                    "|---|---|---:|---:|---:|---:|---:|---:|\n", MV_TRAINING_SMOOTH);
    for (int i = 0; i < t->n_runs; i++) {
        training_cells c;
        training_row(&c, &t->runs[i]);
        mv_tb_printf(b, "| ");
        md_cell(b, t->runs[i].name);
        mv_tb_printf(b, " | %s | %s | %s | %s | %s | %s | %s |\n", t->runs[i].method, c.step, c.tokens, c.per_step,
                     c.loss, c.recall, c.probed);
    }
    mv_tb_printf(b, "\n");
    training_explain(b, t, 0);
    mv_tb_printf(b, " Plots: plot_training_loss.svg, plot_training_recall.svg.\n");
}

static void html_page(mv_textbuf *b, const mv_report *r, const char *svg_psnr, const char *svg_ssim,
                      const char *svg_loss, const char *svg_recall) {
    mv_tb_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>");
    mv_tb_escape(b, r->title);
    mv_tb_printf(b, "</title>\n<style>%s</style></head>\n<body><main>\n<header><h1>", page_css);
    mv_tb_escape(b, r->title);
    mv_tb_printf(b, "</h1><p class=\"sub\">millivid %s &#183; %d test video%s &#183; %d context frames &#183; "
                    "frames %d–%d evaluated &#183; %d method%s, %d bound%s</p></header>\n",
                 mv_version(), r->n_videos_evaluated, r->n_videos_evaluated == 1 ? "" : "s", r->context_frames,
                 r->first_frame, r->first_frame + r->n_frames - 1, r->n_methods - count_bounds(r),
                 r->n_methods - count_bounds(r) == 1 ? "" : "s", count_bounds(r), count_bounds(r) == 1 ? "" : "s");
    mv_tb_printf(b, "<section class=\"card explain\"><p>");
    html_explain(b, r);
    mv_tb_printf(b, " Bold: best method per column.</p></section>\n");
    mv_tb_printf(b, "<h2>Summary</h2>\n<div class=\"card\">\n");
    html_table(b, r);
    mv_tb_printf(b, "</div>\n<h2>Per-frame curves</h2>\n<p>Mean over test videos with a shaded 95%% bootstrap band; "
                    "shaded light orange: frames that revisit a place seen in the context; dark orange: revisits "
                    "within reach; grey: the given context.</p>\n"
                    "<div class=\"plots\"><figure class=\"card\">%s</figure><figure class=\"card\">%s</figure></div>\n",
                 svg_psnr, svg_ssim);
    if (r->training) html_training(b, r, svg_loss, svg_recall);
    if (r->n_videos > 0) {
        mv_tb_printf(b, "<h2>Side-by-side videos</h2>\n");
        if (r->video_note) {
            mv_tb_printf(b, "<p>");
            mv_tb_escape(b, r->video_note);
            mv_tb_printf(b, "</p>\n");
        }
        mv_tb_printf(b, "<div class=\"videos\">\n");
        for (int i = 0; i < r->n_videos; i++) {
            mv_tb_printf(b, "<figure class=\"card\"><video controls muted loop playsinline preload=\"auto\" src=\"");
            mv_tb_escape(b, r->videos[i]);
            mv_tb_printf(b, "\"></video><figcaption>");
            mv_tb_escape(b, r->video_captions && r->video_captions[i] ? r->video_captions[i] : r->videos[i]);
            mv_tb_printf(b, "</figcaption></figure>\n");
        }
        mv_tb_printf(b, "</div>\n");
    }
    if (r->config_text) {
        mv_tb_printf(b, "<h2>Configuration</h2>\n<details class=\"card\"><summary>resolved configuration</summary><pre>");
        mv_tb_escape(b, r->config_text);
        mv_tb_printf(b, "</pre></details>\n");
    }
    mv_tb_printf(b, "<footer>Generated by millivid %s. Plots: plot_psnr.svg, plot_ssim.svg%s; table: summary.md."
                    "</footer>\n</main>\n<script>%s</script>\n</body></html>\n", mv_version(),
                 r->training ? ", plot_training_loss.svg, plot_training_recall.svg" : "", selftest_js);
}

static mv_status report_check(const mv_report *r) {
    if (!r->title || r->n_frames < 1 || r->n_methods < 1 || !r->methods)
        return mv_fail(MV_ERR_ARG, "report: needs a title, at least one frame and one method");
    for (int k = 0; k < r->n_methods; k++)
        if (!r->methods[k].name || !r->methods[k].psnr || !r->methods[k].ssim)
            return mv_fail(MV_ERR_ARG, "report: method %d needs a name and PSNR / SSIM curves", k);
    for (int i = 0; i < r->n_videos; i++)
        if (!r->videos || !r->videos[i] || !r->videos[i][0])
            return mv_fail(MV_ERR_ARG, "report: video %d has no file name", i);
    if (r->n_revisit > 0 && !r->revisit) return mv_fail(MV_ERR_ARG, "report: n_revisit > 0 but no revisit array");
    if (r->n_revisit_reach > 0 && !r->revisit_reach)
        return mv_fail(MV_ERR_ARG, "report: n_revisit_reach > 0 but no revisit_reach array");
    if (!r->revisit_count != !r->reach_count)
        return mv_fail(MV_ERR_ARG, "report: give both per-video counts (revisit_count, reach_count) or neither");
    if (r->training && r->training->n_runs < 1) return mv_fail(MV_ERR_ARG, "report: the training campaign has no run");
    return MV_OK;
}

mv_status mv_report_write(const mv_report *r, const char *dir) {
    static const char *const files[4] = {"plot_psnr.svg", "plot_ssim.svg", "plot_training_loss.svg",
                                         "plot_training_recall.svg"};
    char *svg[4] = {NULL, NULL, NULL, NULL};
    mv_textbuf md = {0}, html = {0};
    mv_status st = report_check(r);
    if (st != MV_OK) goto fail;
    for (int m = 0; m < (r->training ? 4 : 2); m++) {
        if (m < 2) st = mv_report_svg(&svg[m], r, m, m == 0 ? "psnr" : "ssim");
        else st = mv_report_training_svg(&svg[m], r, m - 2, m == 2 ? "train-loss" : "train-recall");
        if (st != MV_OK) goto fail;
        mv_textbuf t = {svg[m], strlen(svg[m]), strlen(svg[m]) + 1, 0};
        if ((st = write_text_file(dir, files[m], &t)) != MV_OK) goto fail;
    }
    summary_md(&md, r);
    if (r->training) summary_training(&md, r->training);
    if ((st = write_text_file(dir, "summary.md", &md)) != MV_OK) goto fail;
    html_page(&html, r, svg[0], svg[1], svg[2], svg[3]);
    st = write_text_file(dir, "report.html", &html);
fail:
    for (int m = 0; m < 4; m++) free(svg[m]);
    mv_tb_free(&md);
    mv_tb_free(&html);
    return st;
}
