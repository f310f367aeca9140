/* Shared helpers of src/nn (internal). */
#ifndef MV_NN_INTERNAL_H
#define MV_NN_INTERNAL_H

/* Loops over fewer elements than this run on the calling thread: waking the OpenMP team costs more
 * than the work (and much more under OMP_WAIT_POLICY=passive on a busy machine). */
#define NN_PAR_MIN 32768
#endif
