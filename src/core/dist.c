/* Data-parallel processes through MPI: see dist.h. */
#include "core/dist.h"

#include <mpi.h>

#include "core/core.h"

static int g_joined;          /* MPI_Init was called here */
static int g_rank, g_size = 1, g_local = 1;
static int g_failure_shared;  /* the last mv_dist_agree saw a failure: every rank knows */

/* MPI counts are ints: large buffers go in chunks of this many elements. */
#define CHUNK (1 << 28)

static int launched_by_mpirun(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

mv_status mv_dist_init(void) {
    if (g_joined || !launched_by_mpirun()) return MV_OK;
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS) return mv_fail(MV_ERR_INTERNAL, "MPI_Init failed");
    g_joined = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &node);
    MPI_Comm_size(node, &g_local);
    MPI_Comm_free(&node);
    return MV_OK;
}

void mv_dist_finalize(int failed) {
    if (!g_joined) return;
    g_joined = 0;
    if (failed && !g_failure_shared && g_size > 1) {
        fprintf(stderr, "millivid: rank %d of %d failed alone: ending every rank\n", g_rank, g_size);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Finalize();
}

int mv_dist_rank(void) { return g_rank; }
int mv_dist_size(void) { return g_size; }
int mv_dist_local_size(void) { return g_local; }

void mv_dist_allreduce_sum_f32(float *buf, size_t n) {
    if (g_size == 1) return;
    for (size_t i = 0; i < n; i += CHUNK)
        MPI_Allreduce(MPI_IN_PLACE, buf + i, (int)MV_MIN((size_t)CHUNK, n - i), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

void mv_dist_allreduce_sum_f64(double *buf, int n) {
    if (g_size == 1) return;
    MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

void mv_dist_bcast(void *buf, size_t bytes, int root) {
    if (g_size == 1) return;
    for (size_t i = 0; i < bytes; i += CHUNK)
        MPI_Bcast((char *)buf + i, (int)MV_MIN((size_t)CHUNK, bytes - i), MPI_BYTE, root, MPI_COMM_WORLD);
}

void mv_dist_barrier(void) {
    if (g_size > 1) MPI_Barrier(MPI_COMM_WORLD);
}

mv_status mv_dist_agree(mv_status s) {
    if (g_size == 1) return s;
    int *all = malloc((size_t)g_size * sizeof(int));
    if (!all) {
        fprintf(stderr, "millivid: rank %d: out of memory\n", g_rank);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    int mine = (int)s, first = -1, failed = 0;
    MPI_Allgather(&mine, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD);
    for (int r = 0; r < g_size; r++)
        if (all[r] != MV_OK) {
            if (first < 0) first = r;
            failed++;
        }
    mv_status out = first < 0 ? MV_OK : (mv_status)all[first];
    free(all);
    if (first < 0) return MV_OK;
    g_failure_shared = 1;
    if (g_rank != first) {
        mv_clear_error();
        return out;
    }
    if (g_rank > 0 && failed < g_size) mv_fail_prefix(s, "rank %d of %d", g_rank, g_size);
    return s;
}
