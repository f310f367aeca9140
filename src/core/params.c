#include "params.h"

#include "core.h"

void mv_params_init(mv_params *p) { memset(p, 0, sizeof *p); }

mv_status mv_params_add(mv_params *p, const char *name, int ndim, const int64_t *shape, int *index) {
    MV_ASSERT(ndim >= 1 && ndim <= MV_MAX_DIMS && !p->data);
    if (strlen(name) >= sizeof p->info[0].name)
        return mv_fail(MV_ERR_INTERNAL, "parameter name too long: %s", name);
    if (p->count == p->cap) {
        int cap = p->cap ? 2 * p->cap : 64;
        mv_param_info *n = realloc(p->info, cap * sizeof *n);
        if (!n) return mv_fail(MV_ERR_NOMEM, "out of memory registering parameters");
        p->info = n;
        p->cap = cap;
    }
    mv_param_info *t = &p->info[p->count];
    memset(t, 0, sizeof *t);
    strcpy(t->name, name);
    t->ndim = ndim;
    t->numel = 1;
    for (int d = 0; d < ndim; d++) {
        MV_ASSERT(shape[d] > 0);
        t->shape[d] = shape[d];
        t->numel *= (size_t)shape[d];
    }
    /* Keep every tensor 64-byte aligned inside the arena. */
    t->offset = (p->total + 15) & ~(size_t)15;
    p->total = t->offset + t->numel;
    if (index) *index = p->count;
    p->count++;
    return MV_OK;
}

mv_status mv_params_alloc(mv_params *p, int with_training) {
    size_t bytes = p->total * sizeof(float);
    if (!(p->data = mv_calloc(bytes))) return MV_ERR_NOMEM;
    if (with_training) {
        p->grad = mv_calloc(bytes);
        p->m = mv_calloc(bytes);
        p->v = mv_calloc(bytes);
        if (!p->grad || !p->m || !p->v) return MV_ERR_NOMEM;
    }
    return MV_OK;
}

void mv_params_free(mv_params *p) {
    mv_free(p->data);
    mv_free(p->grad);
    mv_free(p->m);
    mv_free(p->v);
    free(p->info);
    memset(p, 0, sizeof *p);
}

int mv_params_find(const mv_params *p, const char *name) {
    for (int i = 0; i < p->count; i++)
        if (!strcmp(p->info[i].name, name)) return i;
    return -1;
}

void mv_params_zero_grad(mv_params *p) {
    if (p->grad) memset(p->grad, 0, p->total * sizeof(float));
}
