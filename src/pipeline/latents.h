/* The latents file of a data set: every frame through the autoencoder's encoder, one safetensors file
 * with a tensor per level, "level<l>" of shape (videos, frames, tokens_l, C) (token-major, row-major
 * cells, channel last), BF16 when written here (F32 is read too), plus metadata (content "latents",
 * format_version, ae_hash, ae_variant, config, source, split, videos, frames, levels).
 * `millivid encode` writes it (mv_latents_create / _append / _finish); `millivid train` reads it
 * (mv_latents_open / _read). */
#ifndef MV_PIPELINE_LATENTS_H
#define MV_PIPELINE_LATENTS_H
#include "io/dataset.h"
#include "io/config.h"
#include "io/tensorfile.h"
#include "models/autoencoder.h"

#define MV_LATENTS_FORMAT_VERSION 1

/* ------------------------------------------------------------------ reading */

typedef struct {
    mv_safetensors file;
    const mv_tensor_view *level[MV_MAX_LEVELS]; /* NULL for levels not present */
    int videos, frames, C, levels;              /* levels = number of consecutive level<l> tensors */
    char ae_hash[80];                           /* metadata "ae_hash" ("" if absent) */
} mv_latents;

/* Opens and validates a latents file against cfg (channels, tokens per level, the levels `need`). */
mv_status mv_latents_open(mv_latents *l, const char *path, const mv_config *cfg, int need_levels);
void mv_latents_close(mv_latents *l);
/* Frame f of video v at level l as float32: dst [T_l, C]. */
void mv_latents_read(const mv_latents *l, int level, int video, int frame, float *dst);

/* ------------------------------------------------------------------ writing */

/* One pass over the data: level 0 streams straight into the file, the coarser levels (1/3 of the size
 * together) are spilled to temporary files and appended by mv_latents_finish, so memory stays bounded
 * by max_batch frames. */
typedef struct mv_latents_writer mv_latents_writer;

/* Starts path (its parent folders created) for every frame of data set d encoded by ae; `source` is
 * recorded as the data's origin (e.g. the data set folder). At most max_batch frames per append. */
mv_status mv_latents_create(mv_latents_writer **w, const char *path, const mv_ae *ae, const mv_dataset *d,
                            const char *source, int max_batch);
/* The next n frames (in data set order: video-major) as the encoder wrote them: lat [n, ae->T, C]. */
mv_status mv_latents_append(mv_latents_writer *w, const float *lat, int n);
/* Appends the spilled levels, completes the file and frees w (also on failure). */
mv_status mv_latents_finish(mv_latents_writer *w);
/* Drops the unfinished file and frees w (NULL is fine). */
void mv_latents_abort(mv_latents_writer *w);
#endif
