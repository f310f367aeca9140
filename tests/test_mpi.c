/* Data-parallel training through `mpirun -np 2` (src/core/dist.c, src/pipeline/train.c), on a tiny
 * synthetic data set + latents, global batch 3 (ranks hold 1 and 2 samples):
 *  - train (millivid DiT), 20 steps: 2 ranks and 1 rank give the same losses and weights within the
 *    tolerance below (summation order only: the batch composition does not depend on the rank count);
 *  - a 2-rank checkpoint resumed on 1 rank: the log keeps the 2-rank steps byte for byte and continues
 *    within tolerance; resumed on 2 ranks it is bit-identical to the uninterrupted 2-rank run; a 1-rank
 *    checkpoint resumed on 2 ranks continues the 1-rank trajectory within tolerance;
 *  - train-ae, 6 steps: 2 ranks and 1 rank agree within tolerance;
 *  - bad input: a rank that cannot read the data, a rank with another configuration, other data or
 *    another checkpoint to resume, a usage error on one rank, a batch smaller than the ranks, a rank killed mid-run: every rank exits non-zero, one "error:" line
 *    (from rank 0 or the failing rank), and the last checkpoint on disk is whole and resumes.
 * mpirun runs as root here and in CI (OMPI_ALLOW_RUN_AS_ROOT), with --oversubscribe --bind-to none so
 * that it also runs on a 1-core machine. */
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "core/rng.h"
#include "io/tensorfile.h"
#include "models/checkpoint.h"
#include "testutil.h"

/* Largest differences allowed between a 1-rank and a 2-rank run (measured: see the README section
 * "Training on several processes (MPI)"). */
#define LOSS_RTOL 1e-5
#define WEIGHT_ATOL 1e-5


static const char *g_dir; /* this process's directory */

#define DIT_ARGS                                                                                        \
    "train --method millivid --set dit.width=24 --set dit.depth=1 --set dit.heads=2 --batch 3 --threads 1 " \
    "--seed 5 --log-every 1 --checkpoint-every 10"
#define AE_ARGS                                                                                      \
    "train-ae --set ae.width=32 --set ae.depth=1 --set ae.heads=2 --set ae.warmup=2 --batch 3 --threads 1 " \
    "--seed 5 --log-every 1"
#define MPIRUN "mpirun --oversubscribe --bind-to none"

/* `millivid ARGS` on np ranks (np 0: without mpirun), stderr to DIR/err; returns the exit status. */
static int run(int np, const char *args) {
    char cwd[512];
    if (!getcwd(cwd, sizeof cwd)) return -1;
    if (np == 0) return tu_sh("cd %s && %s/%s/millivid %s >/dev/null 2>err", g_dir, cwd, tu_build_dir(), args);
    return tu_sh("cd %s && " MPIRUN " -np %d %s/%s/millivid %s >/dev/null 2>err", g_dir, np, cwd, tu_build_dir(), args);
}

/* Two app contexts, one rank each: rank 0 runs `millivid A`, rank 1 `PREFIX millivid B` (PREFIX e.g.
 * "env X=1", may be ""). */
static int run_mpmd(const char *a, const char *prefix, const char *b) {
    char cwd[512];
    if (!getcwd(cwd, sizeof cwd)) return -1;
    return tu_sh("cd %s && " MPIRUN " -np 1 %s/%s/millivid %s : -np 1 %s %s/%s/millivid %s >/dev/null 2>err", g_dir,
                 cwd, tu_build_dir(), a, prefix, cwd, tu_build_dir(), b);
}

/* Occurrences of `what` in DIR/err. */
static int err_count(const char *what) {
    char path[600];
    snprintf(path, sizeof path, "%s/err", g_dir);
    char *s = tu_slurp(path, NULL);
    int n = 0;
    for (const char *c = s; c && (c = strstr(c, what)); c += strlen(what)) n++;
    free(s);
    return n;
}

static void show_err(void) {
    char path[600];
    snprintf(path, sizeof path, "%s/err", g_dir);
    char *s = tu_slurp(path, NULL);
    fprintf(stderr, "---- stderr:\n%s----\n", s ? s : "(none)");
    free(s);
}

/* The losses of a loss log (at most n); returns how many. */
static int read_losses(const char *name, double *loss, int n) {
    char path[600], line[1024];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "r");
    int k = 0;
    long step;
    double v;
    while (f && k < n && fgets(line, sizeof line, f))
        if (sscanf(line, "{\"step\": %ld, \"loss\": %lf", &step, &v) == 2 && step == k + 1) loss[k++] = v;
    if (f) fclose(f);
    return k;
}

/* Largest relative difference of the losses of two logs of n steps (1e9 if either is shorter). */
static double loss_diff(const char *a, const char *b, int n) {
    double la[64], lb[64], worst = 0;
    if (read_losses(a, la, 64) != n || read_losses(b, lb, 64) != n) return 1e9;
    for (int i = 0; i < n; i++) worst = fmax(worst, fabs(la[i] - lb[i]) / fabs(lb[i]));
    return isnan(worst) ? 1e9 : worst;
}

/* Largest absolute difference between the tensors of two checkpoints (1e9 if they do not match up);
 * *bits: 1 when they are byte-identical. */
static double weight_diff(const char *a, const char *b, int *bits) {
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/%s", g_dir, a);
    snprintf(pb, sizeof pb, "%s/%s", g_dir, b);
    mv_safetensors fa, fb;
    mv_ckpt_meta ma, mb;
    double worst = 1e9;
    *bits = 0;
    if (mv_ckpt_open(&fa, &ma, pa, NULL)) return worst;
    if (mv_ckpt_open(&fb, &mb, pb, NULL)) {
        mv_st_close(&fa);
        return worst;
    }
    if (fa.count == fb.count && ma.step == mb.step) {
        worst = 0;
        *bits = 1;
        for (int i = 0; i < fa.count && worst < 1e9; i++) {
            const mv_tensor_view *x = &fa.tensors[i], *y = &fb.tensors[i];
            if (x->numel != y->numel || x->dtype != MV_DT_F32 || y->dtype != MV_DT_F32) {
                worst = 1e9;
                break;
            }
            *bits &= !memcmp(x->data, y->data, x->nbytes);
            for (size_t k = 0; k < x->numel; k++)
                worst = fmax(worst, fabs((double)((const float *)x->data)[k] - ((const float *)y->data)[k]));
        }
    }
    mv_st_close(&fa);
    mv_st_close(&fb);
    return isnan(worst) ? 1e9 : worst;
}

/* Copies checkpoint NAME (weights, optimizer state, log) to NAME2. */
static int copy_run(const char *from, const char *to) {
    return tu_sh("cd %s && cp %s.safetensors %s.safetensors && cp %s.optim.safetensors %s.optim.safetensors && "
                 "cp %s.log.jsonl %s.log.jsonl", g_dir, from, to, from, to, from, to);
}

/* The first `lines` lines of two files are byte-identical. */
static int same_head(const char *a, const char *b, int lines) {
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/%s", g_dir, a);
    snprintf(pb, sizeof pb, "%s/%s", g_dir, b);
    char *x = tu_slurp(pa, NULL), *y = tu_slurp(pb, NULL);
    int ok = x && y;
    const char *p = x, *q = y;
    for (int l = 0; ok && l < lines; l++) {
        const char *e = strchr(p, '\n'), *f = strchr(q, '\n');
        ok = e && f && e - p == f - q && !memcmp(p, q, (size_t)(e - p));
        if (ok) p = e + 1, q = f + 1;
    }
    free(x);
    free(y);
    return ok;
}

static void test_dit(void) {
    char args[1024];
    int bits;
    double dl, dw;
    snprintf(args, sizeof args, DIT_ARGS " --latents d1/latents.safetensors --data d1 --steps 20 --out one");
    CHECK(run(0, args) == 0, "1 rank, 20 steps");
    snprintf(args, sizeof args, DIT_ARGS " --latents d1/latents.safetensors --data d1 --steps 20 --out two");
    int rc = run(2, args);
    CHECK(rc == 0, "2 ranks, 20 steps (exit %d)", rc);
    if (rc) show_err();
    CHECK(err_count("configuration:") == 1 && err_count("2 ranks x 1 threads") == 1 &&
              err_count("gradient all-reduce") == 1, "rank 0 alone prints the configuration and the summary");
    dl = loss_diff("one.log.jsonl", "two.log.jsonl", 20);
    dw = weight_diff("one.safetensors", "two.safetensors", &bits);
    printf("train, 1 vs 2 ranks, 20 steps: losses differ by %.2g (relative), weights by %.2g (absolute)%s\n", dl, dw,
           bits ? ", bit-identical" : "");
    CHECK(dl <= LOSS_RTOL, "losses of 1 and 2 ranks within %g: %g", LOSS_RTOL, dl);
    CHECK(dw <= WEIGHT_ATOL, "weights of 1 and 2 ranks within %g: %g", WEIGHT_ATOL, dw);

    /* 10 steps on 2 ranks, then resumed on 2 ranks (bit-exact) and on 1 rank */
    snprintf(args, sizeof args, DIT_ARGS " --latents d1/latents.safetensors --data d1 --steps 10 --out half");
    CHECK(run(2, args) == 0, "2 ranks, 10 steps");
    CHECK(copy_run("half", "half1") == 0, "copy of the step-10 checkpoint");
    snprintf(args, sizeof args, DIT_ARGS " --latents d1/latents.safetensors --data d1 --steps 20 --out half --resume");
    CHECK(run(2, args) == 0, "resumed on 2 ranks");
    dw = weight_diff("two.safetensors", "half.safetensors", &bits);
    CHECK(bits, "2-rank run resumed on 2 ranks: weights bit-identical to the uninterrupted run (differ by %g)", dw);
    CHECK(same_head("two.log.jsonl", "half.log.jsonl", 20), "2-rank resume: log identical");
    snprintf(args, sizeof args, DIT_ARGS " --latents d1/latents.safetensors --data d1 --steps 20 --out half1 --resume");
    CHECK(run(0, args) == 0, "2-rank checkpoint resumed on 1 rank");
    CHECK(same_head("two.log.jsonl", "half1.log.jsonl", 10), "the 2-rank steps 1-10 kept byte for byte");
    dl = loss_diff("two.log.jsonl", "half1.log.jsonl", 20);
    dw = weight_diff("two.safetensors", "half1.safetensors", &bits);
    printf("train, 2 ranks to step 10, then 1 rank to 20, vs 2 ranks throughout: losses %.2g, weights %.2g\n", dl, dw);
    CHECK(dl <= LOSS_RTOL && dw <= WEIGHT_ATOL, "resumed on 1 rank: losses %g, weights %g", dl, dw);

    /* and a 1-rank checkpoint resumed on 2 ranks */
    snprintf(args, sizeof args, DIT_ARGS " --latents d1/latents.safetensors --data d1 --steps 10 --out half2");
    CHECK(run(0, args) == 0, "1 rank, 10 steps");
    snprintf(args, sizeof args, DIT_ARGS " --latents d1/latents.safetensors --data d1 --steps 20 --out half2 --resume");
    CHECK(run(2, args) == 0, "1-rank checkpoint resumed on 2 ranks");
    CHECK(same_head("one.log.jsonl", "half2.log.jsonl", 10), "the 1-rank steps 1-10 kept byte for byte");
    dl = loss_diff("one.log.jsonl", "half2.log.jsonl", 20);
    dw = weight_diff("one.safetensors", "half2.safetensors", &bits);
    CHECK(dl <= LOSS_RTOL && dw <= WEIGHT_ATOL, "resumed on 2 ranks: losses %g, weights %g", dl, dw);
}

static void test_ae(void) {
    int bits;
    CHECK(run(0, AE_ARGS " --data d1 --steps 6 --out ae1") == 0, "train-ae on 1 rank");
    int rc = run(2, AE_ARGS " --data d1 --steps 6 --out ae2");
    CHECK(rc == 0, "train-ae on 2 ranks (exit %d)", rc);
    if (rc) show_err();
    double dl = loss_diff("ae1.log.jsonl", "ae2.log.jsonl", 6), dw = weight_diff("ae1.safetensors", "ae2.safetensors", &bits);
    printf("train-ae, 1 vs 2 ranks, 6 steps: losses differ by %.2g, weights by %.2g\n", dl, dw);
    CHECK(dl <= LOSS_RTOL && dw <= WEIGHT_ATOL, "train-ae: losses %g, weights %g", dl, dw);
}

/* The job failed with exactly one error line that contains `want`. */
static void check_one_error(int rc, const char *what, const char *want) {
    int lines = err_count("error:"), has = err_count(want);
    CHECK(rc != 0 && lines == 1 && has >= 1, "%s: exit %d, %d error lines, '%s' %s", what, rc, lines, want,
          has ? "found" : "missing");
    if (rc == 0 || lines != 1 || !has) show_err();
}

static void test_bad_input(void) {
    char a[1024], b[1024];
    snprintf(a, sizeof a, DIT_ARGS " --latents d1/latents.safetensors --data d1 --steps 4 --out bad --force");
    snprintf(b, sizeof b, DIT_ARGS " --latents d1/latents.safetensors --data nowhere --steps 4 --out bad --force");
    check_one_error(run_mpmd(a, "", b), "rank 1 cannot read the data", "rank 1 of 2: nowhere");
    snprintf(b, sizeof b, DIT_ARGS " --latents d1/latents.safetensors --data d1 --steps 4 --out bad --force "
                                   "--set dit.depth=2");
    check_one_error(run_mpmd(a, "", b), "another configuration on rank 1", "rank 1 of 2: its configuration differs");
    snprintf(b, sizeof b, DIT_ARGS " --latents d2/latents.safetensors --data d2 --steps 4 --out bad --force");
    check_one_error(run_mpmd(a, "", b), "other data on rank 1", "rank 1 of 2: its data differs");
    snprintf(a, sizeof a, DIT_ARGS " --latents d1/latents.safetensors --data d1 --steps 22 --out one --resume");
    snprintf(b, sizeof b, DIT_ARGS " --latents d1/latents.safetensors --data d1 --steps 22 --out two --resume");
    check_one_error(run_mpmd(a, "", b), "another checkpoint on rank 1",
                    "rank 1 of 2: its starting weights or optimizer state differ");
    snprintf(a, sizeof a, DIT_ARGS " --latents d1/latents.safetensors --data d1 --steps 4 --out bad --force");
    snprintf(b, sizeof b, DIT_ARGS " --latents d1/latents.safetensors --data d1 --steps 4 --out bad --force --bogus");
    check_one_error(run_mpmd(a, "", b), "a usage error on rank 1", "rank 1 of 2: unknown option");
    snprintf(a, sizeof a, DIT_ARGS " --latents d1/latents.safetensors --data d1 --steps 4 --out bad --force --batch 1");
    check_one_error(run(2, a), "batch 1 on 2 ranks", "batch 1 is smaller than the 2 ranks");
    CHECK(err_count("rank 0 of 2") == 0, "an error of every rank is printed once, without a rank");

    /* rank 1 killed during step 7: the job ends non-zero, the step-5 checkpoint is whole and resumes */
    snprintf(a, sizeof a, DIT_ARGS " --latents d1/latents.safetensors --data d1 --steps 8 --out killed "
                                   "--checkpoint-every 5");
    int rc = run_mpmd(a, "env MV_TEST_KILL_AT=train-step:7", a);
    CHECK(rc != 0, "a rank killed mid-run ends the job non-zero (exit %d)", rc);
    char path[600];
    snprintf(path, sizeof path, "%s/killed.safetensors", g_dir);
    mv_safetensors f;
    mv_ckpt_meta meta;
    if (mv_ckpt_open(&f, &meta, path, NULL) == MV_OK) {
        CHECK(meta.step == 5, "the checkpoint left is step 5's, got %ld", meta.step);
        mv_st_close(&f);
    } else CHECK(0, "checkpoint after the kill: %s", mv_last_error());
    snprintf(a, sizeof a, DIT_ARGS " --latents d1/latents.safetensors --data d1 --steps 8 --out killed "
                                   "--checkpoint-every 5 --resume");
    CHECK(run(2, a) == 0, "the killed run resumes on 2 ranks");
}

int main(void) {
    char name[64];
    snprintf(name, sizeof name, "mpi_%d", (int)getpid()); /* several people may run the suite at once */
    g_dir = tu_tmpdir(name);
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    char d1[600], d2[600];
    snprintf(d1, sizeof d1, "%s/d1", g_dir);
    snprintf(d2, sizeof d2, "%s/d2", g_dir);
    CHECK(tu_make_train_data(d1, 2, 160, 16, 4, 1) == 0, "data set d1");
    CHECK(tu_make_train_data(d2, 2, 160, 16, 4, 2) == 0, "data set d2");
    CHECK(tu_sh("mpirun --version >/dev/null 2>&1") == 0, "mpirun is installed (tools/install-deps.sh)");
    if (tu_failures) return tu_finish();
    test_dit();
    test_ae();
    test_bad_input();
    return tu_finish();
}
