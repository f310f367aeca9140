/* Command-line pieces of `millivid train` and `millivid train-ae` (see train_common.h). */
#include "train_common.h"

#include "core/dist.h"

int train_common_parsed(int rc, mv_train_opts *t, const cli_list *sets) {
    t->sets = sets->item;
    t->nsets = sets->n;
    if (mv_dist_rank() > 0) mv_set_log_level(MV_LOG_ERROR);
    if (mv_dist_agree(rc == 0 ? MV_OK : MV_ERR_ARG) == MV_OK) return 0;
    return rc < 0 ? -1 : 2;
}

void train_common_progress(mv_progress *bar, const char *label, const mv_train_progress *p, const char *extra) {
    if (p->done == p->start) {
        mv_progress_start(bar, label, p->steps - p->start, "step");
        return;
    }
    mv_progress_update(bar, p->done - p->start, extra);
    if (p->done == p->steps) mv_progress_end(bar, p->done - p->start, extra);
}
