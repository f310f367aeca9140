/* millivid train-ae: train the hierarchical autoencoder (OFFICIAL_MODULES.md §1.5) on random frames of a
 * data set. Each step draws, from Philox stream (seed, step) only, B (video, frame, kept level) triples,
 * so a resumed run sees exactly the batches of an uninterrupted one. Loss = MSE over all pyramid
 * patches weighted by 4^level. The paper adds 0.05 x LPIPS(VGG); we leave it out because LPIPS needs
 * pretrained VGG weights that this project cannot download (and no cheap substitute keeps the twin test
 * exact). AdamW (betas 0.9/0.999, eps 1e-8, weight decay from the config on every tensor) with
 * lr * min(step / warmup, 1), then constant, as the official schedule (Muon is replaced by AdamW). */
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "core/config.h"
#include "core/rng.h"
#include "io/dataset.h"
#include "models/autoencoder.h"
#include "models/checkpoint.h"
#include "nn/nn.h"

typedef struct {
    const char *data, *out, *config, *variant;
    const char *sets[64];
    int nsets;
    int steps, batch, threads, ckpt_every, log_every, resume, force, have_batch, have_lr, have_seed;
    double lr;
    long seed;
} train_opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: millivid train-ae --data DIR --out FILE [options]\n"
            "  --data DIR             training data set (frames.npy, actions.npy, index.json)\n"
            "  --out FILE             checkpoint (FILE.safetensors; optimizer state in *.optim.safetensors,\n"
            "                         loss log in *.log.jsonl)\n"
            "  --config NAME|PATH     preset (mini, paper) or JSON file [mini]\n"
            "  --set key=value        override a config key (repeatable), e.g. --set ae.depth=2\n"
            "  --variant V            adaptive | cascaded [adaptive]\n"
            "  --steps N              total optimizer steps to reach [20000]\n"
            "  --batch B              frames per step [config ae.batch]\n"
            "  --lr X                 peak learning rate [config ae.lr]\n"
            "  --threads T            OpenMP + GEMM threads [all cores]\n"
            "  --seed K               run seed (data order, levels, init) [1]\n"
            "  --checkpoint-every K   save every K steps [config ae.checkpoint_every]\n"
            "  --log-every K          loss log line every K steps [10]\n"
            "  --resume               continue from FILE (and its optimizer state); bit-exact with an\n"
            "                         uninterrupted run at the same --threads\n"
            "  --force                start a new run even if FILE exists (overwrites it)\n");
}

static int parse_opts(int argc, char **argv, train_opts *o) {
    memset(o, 0, sizeof *o);
    o->config = "mini";
    o->steps = 20000;
    o->log_every = 10;
    o->seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return -1;
        }
        if (!strcmp(a, "--resume") || !strcmp(a, "--force")) {
            *(a[2] == 'r' ? &o->resume : &o->force) = 1;
            continue;
        }
        if (strncmp(a, "--", 2) || !(v = cli_value(argc, argv, &i))) {
            if (!v && !strncmp(a, "--", 2)) return 2;
            mv_fail(MV_ERR_ARG, "unexpected argument '%s' (see millivid train-ae --help)", a);
            return 2;
        }
        mv_status s = MV_OK;
        if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--config")) o->config = v;
        else if (!strcmp(a, "--variant")) o->variant = v;
        else if (!strcmp(a, "--set")) {
            if (o->nsets == (int)MV_ARRAY_LEN(o->sets)) s = mv_fail(MV_ERR_ARG, "too many --set options");
            else o->sets[o->nsets++] = v;
        } else if (!strcmp(a, "--steps")) s = cli_int(a, v, 1, 1L << 30, &o->steps);
        else if (!strcmp(a, "--batch")) s = cli_int(a, v, 1, 4096, &o->batch), o->have_batch = 1;
        else if (!strcmp(a, "--lr")) s = cli_double(a, v, 0, 10, &o->lr), o->have_lr = 1;
        else if (!strcmp(a, "--threads")) s = cli_int(a, v, 0, 1024, &o->threads);
        else if (!strcmp(a, "--seed")) {
            int sd;
            s = cli_int(a, v, 0, 2147483647, &sd);
            o->seed = sd, o->have_seed = 1;
        } else if (!strcmp(a, "--checkpoint-every")) s = cli_int(a, v, 1, 1L << 30, &o->ckpt_every);
        else if (!strcmp(a, "--log-every")) s = cli_int(a, v, 1, 1L << 30, &o->log_every);
        else s = mv_fail(MV_ERR_ARG, "unknown option '%s' (see millivid train-ae --help)", a);
        if (s) return 2;
    }
    if (!o->data || !o->out) {
        mv_fail(MV_ERR_ARG, "--data and --out are required (see millivid train-ae --help)");
        return 2;
    }
    return 0;
}

static mv_status build_config(const train_opts *o, mv_config *cfg) {
    MV_TRY(mv_config_load(cfg, o->config));
    for (int i = 0; i < o->nsets; i++) MV_TRY(mv_config_set(cfg, o->sets[i]));
    if (o->have_batch) cfg->ae_batch = o->batch;
    if (o->have_lr) cfg->ae_lr = o->lr;
    if (o->ckpt_every) cfg->ae_checkpoint_every = o->ckpt_every;
    return mv_config_validate(cfg);
}

/* The run being trained: model, data, optimizer position. */
typedef struct {
    mv_config cfg;
    mv_ae ae;
    mv_dataset data;
    mv_ae_work *work;
    long start;
    uint64_t seed;
    float *patches; /* [B, T, 3P^2] */
    uint8_t *frames;/* [B, H, W, 3] */
    int *keep;      /* [B] */
} train_run;

/* Restores model + optimizer state from o->out; the checkpoint must match the requested shapes. */
static mv_status resume_run(const train_opts *o, train_run *r, mv_ae_variant variant) {
    mv_safetensors f;
    mv_ckpt_meta meta;
    mv_train_state ts;
    char path[1024];
    MV_TRY(mv_ckpt_path(path, sizeof path, o->out, ".safetensors"));
    MV_TRY(mv_ckpt_open(&f, &meta, path, "autoencoder"));
    mv_status s = mv_ckpt_check_config(path, "autoencoder", &r->cfg, &meta.config);
    if (!s && o->variant && strcmp(meta.variant, mv_ae_variant_name(variant)))
        s = mv_fail(MV_ERR_ARG, "%s: checkpoint variant is %s, --variant asks for %s", path, meta.variant,
                    mv_ae_variant_name(variant));
    if (!s) s = mv_ae_variant_parse(meta.variant, &variant); /* without --variant: the checkpoint's */
    if (!s) s = mv_ae_create(&r->ae, &r->cfg, variant, 1);
    if (!s) s = mv_ckpt_load_params(&f, &r->ae.params, NULL);
    mv_st_close(&f);
    if (!s) s = mv_ckpt_load_optim(o->out, &r->ae.params, &ts, meta.step);
    if (s) return s;
    free(ts.data_state);
    if (o->have_seed && (uint64_t)o->seed != ts.seed)
        MV_WARN("--seed %ld ignored: resuming the run of seed %llu", o->seed, (unsigned long long)ts.seed);
    r->seed = ts.seed;
    r->start = meta.step;
    return MV_OK;
}

/* The batch of step `step`: B random (video, frame, kept level) from Philox stream (seed, step). */
static void draw_batch(train_run *r, long step, int B) {
    mv_rng base, g;
    mv_rng_init(&base, r->seed);
    g = mv_rng_fork(&base, 1000003ull + (uint64_t)step);
    size_t fb = (size_t)r->data.size * r->data.size * 3;
    for (int b = 0; b < B; b++) {
        int v = (int)mv_rng_below(&g, (uint32_t)r->data.videos);
        int t = (int)mv_rng_below(&g, (uint32_t)r->data.frames_per_video);
        r->keep[b] = (int)mv_rng_below(&g, (uint32_t)r->ae.L);
        memcpy(r->frames + b * fb, mv_dataset_frame(&r->data, v, t), fb);
    }
    mv_ae_pyramid_u8(&r->ae, r->work, r->patches, r->frames, B);
}

static mv_status save_run(const train_opts *o, train_run *r, long step) {
    mv_ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.model, sizeof meta.model, "autoencoder");
    snprintf(meta.variant, sizeof meta.variant, "%s", mv_ae_variant_name(r->ae.variant));
    meta.config = r->cfg;
    meta.step = step;
    mv_train_state ts = {.step = step, .seed = r->seed};
    return mv_ckpt_save(o->out, &r->ae.params, &meta, &ts);
}

static mv_status log_step(FILE *log, const train_run *r, long step, float loss, const float *lv, float lr) {
    char line[512];
    int n = snprintf(line, sizeof line, "{\"step\": %ld, \"loss\": %.9g, \"lr\": %.9g, \"loss_levels\": [", step,
                     loss, lr);
    for (int l = 0; l < r->ae.L; l++) n += snprintf(line + n, sizeof line - n, "%s%.9g", l ? ", " : "", lv[l]);
    snprintf(line + n, sizeof line - n, "]}");
    return mv_ckpt_log_write(log, line);
}

static mv_status train_loop(const train_opts *o, train_run *r) {
    int B = r->cfg.ae_batch;
    mv_params *p = &r->ae.params;
    FILE *log = NULL;
    MV_TRY(mv_ckpt_log_open(&log, o->out, o->resume ? r->start : -1));
    mv_progress prog;
    mv_progress_start(&prog, "train-ae", o->steps - r->start, "step");
    mv_status s = MV_OK;
    double t0 = mv_now(), ema = 0;
    float lv[MV_MAX_LEVELS];
    for (long step = r->start; step < o->steps; step++) {
        draw_batch(r, step, B);
        mv_params_zero_grad(p);
        float loss = mv_ae_train_step(&r->ae, r->work, r->patches, r->keep, B, lv);
        if (!isfinite(loss)) {
            s = mv_fail(MV_ERR_INTERNAL, "loss became %g at step %ld (try a lower --lr)", loss, step + 1);
            goto done;
        }
        float lr = lr_warmup((float)r->cfg.ae_lr, step, r->cfg.ae_warmup);
        adamw_update(p->data, p->grad, p->m, p->v, p->total, lr, 0.9f, 0.999f, 1e-8f,
                     (float)r->cfg.weight_decay, step + 1);
        long done = step + 1;
        if (done % o->log_every == 0 || done == o->steps)
            if ((s = log_step(log, r, done, loss, lv, lr))) goto done;
        if (done % r->cfg.ae_checkpoint_every == 0 || done == o->steps)
            if ((s = save_run(o, r, done))) goto done;
        ema = step == r->start ? loss : 0.95 * ema + 0.05 * loss;
        char extra[200];
        int n = snprintf(extra, sizeof extra, "loss %.4f [", ema);
        for (int l = 0; l < r->ae.L; l++) n += snprintf(extra + n, sizeof extra - n, "%s%.4f", l ? " " : "", lv[l]);
        snprintf(extra + n, sizeof extra - n, "] %.1f frames/s", (done - r->start) * B / (mv_now() - t0));
        mv_progress_update(&prog, done - r->start, extra);
        if (done == o->steps) mv_progress_end(&prog, done - r->start, extra);
    }
done:
    fclose(log);
    return s;
}

/* mkdir -p of the directory part of path. */
static mv_status make_parent_dir(const char *path) {
    char dir[1024];
    if ((size_t)snprintf(dir, sizeof dir, "%s", path) >= sizeof dir) return mv_fail(MV_ERR_ARG, "%s: path too long", path);
    for (char *c = dir + 1; *c; c++) {
        if (*c != '/') continue;
        *c = 0;
        if (mkdir(dir, 0777) && errno != EEXIST)
            return mv_fail(MV_ERR_IO, "%s: cannot create directory: %s", dir, strerror(errno));
        *c = '/';
    }
    return MV_OK;
}

static mv_status run(const train_opts *o) {
    train_run r;
    memset(&r, 0, sizeof r);
    mv_ae_variant variant = MV_AE_ADAPTIVE;
    mv_status s;
    if ((s = build_config(o, &r.cfg))) return s;
    if ((s = make_parent_dir(o->out))) return s;
    if (o->variant && (s = mv_ae_variant_parse(o->variant, &variant))) return s;
    if ((s = mv_dataset_open(&r.data, o->data))) return s;
    if (r.data.size != r.cfg.image_size) {
        s = mv_fail(MV_ERR_SHAPE, "%s: frames are %dx%d but config '%s' expects image_size %d", o->data,
                    r.data.size, r.data.size, r.cfg.preset, r.cfg.image_size);
        goto fail;
    }
    r.seed = (uint64_t)o->seed;
    if (o->resume) {
        if ((s = resume_run(o, &r, variant))) goto fail;
        if (r.start >= o->steps) {
            s = mv_fail(MV_ERR_ARG, "%s is already at step %ld (>= --steps %d): nothing to do", o->out, r.start, o->steps);
            goto fail;
        }
        MV_INFO("resuming %s at step %ld", o->out, r.start);
    } else {
        char path[1024];
        if ((s = mv_ckpt_path(path, sizeof path, o->out, ".safetensors"))) goto fail;
        if (!o->force && access(path, F_OK) == 0) {
            s = mv_fail(MV_ERR_ARG, "%s exists: pass --resume to continue that run or --force to start over", path);
            goto fail;
        }
        if ((s = mv_ae_create(&r.ae, &r.cfg, variant, 1))) goto fail;
        mv_ae_init_weights(&r.ae, r.seed);
    }
    int B = r.cfg.ae_batch;
    double need = mv_ae_work_bytes(&r.ae, B, 1) + r.ae.params.total * 16.0;
    double have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (have > 0 && need > 0.9 * have) {
        s = mv_fail(MV_ERR_NOMEM, "batch %d needs about %.1f GB but this machine has %.1f GB: use a smaller --batch",
                    B, need / 1e9, have / 1e9);
        goto fail;
    }
    if ((s = mv_ae_work_create(&r.work, &r.ae, B, 1))) goto fail;
    r.patches = malloc((size_t)B * r.ae.T * r.ae.PD * sizeof(float));
    r.frames = malloc((size_t)B * r.ae.H * r.ae.H * 3);
    r.keep = malloc((size_t)B * sizeof(int));
    if (!r.patches || !r.frames || !r.keep) {
        s = mv_fail(MV_ERR_NOMEM, "out of memory");
        goto fail;
    }
    char *js = mv_config_to_json(&r.cfg);
    fprintf(stderr, "configuration:\n%s\n", js ? js : "?");
    free(js);
    fprintf(stderr, "autoencoder %s: %zu parameters, %d tokens per frame, batch %d, ~%.0f MB of memory\n"
                    "data: %s (%d videos x %d frames), steps %ld -> %d, %d threads\n",
            mv_ae_variant_name(r.ae.variant), r.ae.params.total, r.ae.T, B, need / 1e6, o->data, r.data.videos,
            r.data.frames_per_video, r.start, o->steps, mv_get_threads());
    s = train_loop(o, &r);
fail:
    free(r.patches);
    free(r.frames);
    free(r.keep);
    mv_ae_work_free(r.work);
    mv_ae_free(&r.ae);
    mv_dataset_close(&r.data);
    return s;
}

int cmd_train_ae(int argc, char **argv) {
    train_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    mv_set_threads(o.threads);
    return run(&o) == MV_OK ? 0 : 1;
}
