/* Data-parallel processes through MPI (OpenMPI): the one file that includes mpi.h is dist.c.
 *
 * A process started by mpirun (or another launcher that sets OMPI_COMM_WORLD_SIZE, PMIX_RANK or
 * PMI_RANK) joins the job in mv_dist_init; any other process is rank 0 of 1, never calls MPI, and every
 * collective below returns at once with its buffer unchanged. Collectives must be called by every rank
 * in the same order. Errors inside MPI end the whole job (MPI's default handler), so they return
 * nothing here.
 *
 * Failures: a rank that fails calls mv_dist_agree with its status at the next agreement point, where
 * every rank learns the outcome; exactly one rank keeps an error message (the lowest failing rank), the
 * others return the same status with the message cleared, so the job prints one message. */
#ifndef MV_DIST_H
#define MV_DIST_H
#include <stddef.h>

#include "millivid.h"

/* Joins the MPI job when launched by mpirun (once; later calls do nothing). */
mv_status mv_dist_init(void);
/* Leaves the job (MPI_Finalize). failed: this process ends with an error; if that failure was not
 * shared through mv_dist_agree, the other ranks may be waiting in a collective, so the job is aborted
 * (MPI_Abort) instead of finalized. Does nothing without an MPI job. */
void mv_dist_finalize(int failed);

int mv_dist_rank(void);       /* 0 .. size-1 */
int mv_dist_size(void);       /* 1 without mpirun */
int mv_dist_local_size(void); /* ranks on this node */

/* In-place sums over all ranks (every rank receives the same result). */
void mv_dist_allreduce_sum_f32(float *buf, size_t n);
void mv_dist_allreduce_sum_f64(double *buf, int n);
/* bytes of root's buf copied to every rank's buf. */
void mv_dist_bcast(void *buf, size_t bytes, int root);
void mv_dist_barrier(void);

/* The agreement described above: returns MV_OK on every rank when s is MV_OK on every rank. Otherwise
 * the lowest failing rank R returns its s with its message (prefixed "rank R of N: " when R > 0 and
 * some rank did not fail) and every other rank returns R's status with an empty message. */
mv_status mv_dist_agree(mv_status s);
#endif
