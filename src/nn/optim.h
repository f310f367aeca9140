/* The optimizer of a training run over one parameter arena (core/params.h).
 *
 * MV_OPTIM_ADAMW: AdamW (betas 0.9/0.999, eps 1e-8) on every tensor.
 * MV_OPTIM_MUON: the official MilliVid configuration (OFFICIAL_MODULES.md §7): torch.optim.Muon on
 *   every 2-D linear weight (momentum 0.95, Nesterov, 5 Newton-Schulz iterations with coefficients
 *   (3.4445, -4.7750, 2.0315), adjust_lr_fn "match_rms_adamw": lr * 0.2 * sqrt(max(rows, cols))),
 *   AdamW on the rest (biases, norm weights, embedding tables); one lr and one weight decay for both,
 *   decay decoupled as lr * wd with the unadjusted lr.
 *
 * State lives in the arena's moment buffers, so checkpoints need no new layout: a Muon tensor keeps
 * its momentum buffer in params->m (params->v stays zero); an AdamW tensor keeps exp_avg / exp_avg_sq.
 *
 * Newton-Schulz runs its three matrix products per iteration with bf16 operands and fp32 sums when
 * training with --bf16 (the official code runs it in bf16), in fp32 otherwise. In bf16 the tensors of
 * one shape (the same layer of every block) go through each product as one batched oneDNN matmul; X
 * and the sums stay fp32, only the operands are rounded, exactly as in muon_update. */
#ifndef MV_NN_OPTIM_H
#define MV_NN_OPTIM_H
#include <stddef.h>

#include "core/params.h"

typedef enum { MV_OPTIM_ADAMW = 0, MV_OPTIM_MUON = 1 } mv_optim_kind;

const char *mv_optim_name(mv_optim_kind k);                       /* "adamw", "muon" */
mv_status mv_optim_from_string(const char *s, mv_optim_kind *out); /* error names the valid choices */

/* 1 when Muon updates tensor `info` under MV_OPTIM_MUON: a 2-D weight that is not an embedding table
 * (names ending in "embedding.weight" are lookup tables, which the official code gives to AdamW). */
int mv_optim_is_muon_tensor(const mv_param_info *info);

/* Muon tensors of one shape, orthogonalised together (one batched product per Newton-Schulz step). */
typedef struct {
    int rows, cols, count;
    int *tensors; /* [count] indices into the arena's tensors */
} mv_muon_group;

typedef struct {
    mv_optim_kind kind;
    float beta1, beta2, eps; /* AdamW */
    float momentum;          /* Muon */
    int ns_steps;
    float *work;             /* Newton-Schulz scratch: the largest tensor (fp32) or group (bf16) */
    mv_muon_group *groups;   /* the Muon tensors by shape */
    int ngroups;
    int *group_tensors;      /* storage of the groups' index lists */
} mv_optimizer;

/* Sizes the scratch for p (which must have grad, m and v). */
mv_status mv_optimizer_init(mv_optimizer *o, const mv_params *p, mv_optim_kind kind);
void mv_optimizer_free(mv_optimizer *o);
/* One update of every tensor from p->grad; step counts from 1 (AdamW bias correction). */
void mv_optimizer_step(mv_optimizer *o, mv_params *p, float lr, float weight_decay, long step);

/* Muon on one weight w [rows, cols] with gradient g and momentum buffer mom (both [rows, cols]);
 * work: muon_work_floats(rows, cols) floats. */
size_t muon_work_floats(int rows, int cols);
void muon_update(float *w, const float *g, float *mom, int rows, int cols, float lr, float momentum,
                 int ns_steps, float weight_decay, float *work);
#endif
