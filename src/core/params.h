/* One arena per model: parameters are named views into one allocation; gradients and the AdamW
 * moments mirror it, so zeroing, clipping, the optimizer and checkpointing are single loops.
 * Use: mv_params_add() for every tensor (in state-dict order), mv_params_alloc(), then
 * mv_params_data(p, i) / mv_params_grad(p, i) for the views. */
#ifndef MV_PARAMS_H
#define MV_PARAMS_H
#include <stddef.h>
#include <stdint.h>

#include "millivid.h"

#define MV_MAX_DIMS 4

typedef struct {
    char name[128];
    int ndim;
    int64_t shape[MV_MAX_DIMS]; /* outermost first, PyTorch order */
    size_t offset;              /* in floats from the start of the arena */
    size_t numel;
} mv_param_info;

typedef struct {
    mv_param_info *info;
    int count, cap;
    size_t total; /* floats */
    float *data;  /* [total] */
    float *grad;  /* [total] or NULL when allocated without training state */
    float *m, *v; /* [total] AdamW moments, or NULL */
} mv_params;

void mv_params_init(mv_params *p);
/* Register a tensor; returns its index via *index (may be NULL). Shape is outermost first. */
mv_status mv_params_add(mv_params *p, const char *name, int ndim, const int64_t *shape, int *index);
/* Allocate the arena (zeroed); with_training also allocates grad, m and v. */
mv_status mv_params_alloc(mv_params *p, int with_training);
void mv_params_free(mv_params *p);
int mv_params_find(const mv_params *p, const char *name); /* index or -1 */
static inline float *mv_params_data(const mv_params *p, int i) { return p->data + p->info[i].offset; }
static inline float *mv_params_grad(const mv_params *p, int i) { return p->grad + p->info[i].offset; }
void mv_params_zero_grad(mv_params *p);
#endif
