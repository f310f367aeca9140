/* `millivid import`: a data set from the user's own videos (+ optional per-frame actions), in the same
 * layout as `millivid world` (src/io/dataset.h): frames.npy (N,T,S,S,3) uint8, actions.npy (N,T,6)
 * float32 [id, 0, 0, 0, 0, 0] (id -1 = unconditioned when no actions are given), index.json.
 * Actions files are JSON lines, one line per frame (src/io/actions.h).
 * Every video is cut to the same frame count T (--frames, or the shortest video). */
#ifndef MV_IO_IMPORT_H
#define MV_IO_IMPORT_H
#include "millivid.h"

typedef struct {
    const char *out;           /* output directory */
    int size;                  /* frame side S, multiple of 8 in [8, 1024] */
    double fps;                /* > 0: resample every video to this rate; 0: keep the source rate */
    int frames;                /* > 0: cut every video to this many frames (shorter: error); 0: shortest */
    int force;                 /* replace a non-empty output directory */
    int quiet;                 /* no progress bar */
    const char *const *videos; /* [n_videos] */
    int n_videos;
    const char *const *actions; /* [n_actions], n_actions is 0 or n_videos */
    int n_actions;
} mv_import_params;

void mv_import_params_init(mv_import_params *p);
mv_status mv_import_params_check(const mv_import_params *p);
/* Decodes every video (one at a time), writes the data set into a temporary sibling directory and
 * renames it to p->out. */
mv_status mv_import_run(const mv_import_params *p);
#endif
