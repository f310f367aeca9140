/* Helpers shared by several commands (see common.h). */
#include "common.h"

mv_status cli_open_ae_data(mv_ae *ae, const char *ae_path, mv_dataset *d, const char *data_dir) {
    MV_TRY(mv_ae_load(ae, ae_path, 0));
    MV_TRY(mv_dataset_open(d, data_dir));
    if (d->size != ae->H)
        return mv_fail(MV_ERR_SHAPE, "%s: frames are %dx%d but the autoencoder %s expects %dx%d", data_dir, d->size,
                       d->size, ae_path, ae->H, ae->H);
    return MV_OK;
}
