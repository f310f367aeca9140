/* Helpers shared by several commands that use the models. */
#ifndef MV_CLI_COMMON_H
#define MV_CLI_COMMON_H
#include "cli.h"
#include "io/dataset.h"
#include "models/autoencoder.h"

/* Loads the autoencoder ae_path (inference only) and opens the data set data_dir, whose frames must be
 * of the autoencoder's size. On failure whatever was opened stays in *ae / *d for the caller to free. */
mv_status cli_open_ae_data(mv_ae *ae, const char *ae_path, mv_dataset *d, const char *data_dir);
#endif
