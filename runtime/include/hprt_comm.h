/* hprt_comm.h - the communicator a run or a study uses when it is one of several
 * processes (MPI ranks).  The runtime knows nothing of MPI: it is given this
 * table of functions.  hpc's implementation lives in a separate module
 * (cli/mpi/comm_mpi.c, built as hpc-mpi.so when Open MPI is installed) that
 * hpc loads only when it was started by mpirun/srun (cli/mpi_load.c), so a
 * plain `hpc run` neither loads nor initialises MPI.  Every function returns 0
 * on success and -1 on failure, with a message in the comm's `error`. */
#ifndef HPRT_COMM_H
#define HPRT_COMM_H

#include <stddef.h>

typedef struct hprt_comm hprt_comm;
typedef struct hprt_comm_req hprt_comm_req; /* an operation in flight */

struct hprt_comm {
    int rank, size;
    int threads_ok;     /* MPI_THREAD_MULTIPLE was granted */
    char library[128];  /* the MPI library's version string, first line */
    char error[256];    /* the last failure */
    void *ctx;          /* the implementation's */

    /* collective, in place, on every rank */
    int (*allreduce_f32)(hprt_comm *c, float *buf, size_t n);
    int (*allreduce_f64)(hprt_comm *c, double *buf, size_t n);
    int (*bcast)(hprt_comm *c, void *buf, size_t bytes, int root);
    int (*barrier)(hprt_comm *c);
    /* non-blocking sum in place; `wait` completes it and frees the request */
    int (*iallreduce_f32)(hprt_comm *c, float *buf, size_t n, hprt_comm_req **req);
    int (*wait)(hprt_comm *c, hprt_comm_req *req);
    /* point to point: bytes to one rank with a tag; `recv` from any rank
     * (src < 0) or one, any tag (tag < 0) or one; *got_* say what came.  A
     * message longer than cap is an error. */
    int (*send)(hprt_comm *c, int dest, int tag, const void *buf, size_t bytes);
    int (*recv)(hprt_comm *c, int src, int tag, void *buf, size_t cap, int *got_src, int *got_tag,
                size_t *got_bytes);
    /* 1 when a message is waiting (src/tag as recv), 0 when none, -1 on error */
    int (*poll)(hprt_comm *c, int src, int tag);
    /* ends every rank's process (MPI_Abort): a rank that cannot go on */
    void (*abort)(hprt_comm *c, int status);
    /* MPI_Finalize and free: the last call */
    void (*close)(hprt_comm *c);
    /* the sharded optimizer update (docs/distributed.md): buf is split in
     * slices, rank k's the floats [at[k], at[k+1]) (at has size + 1
     * entries, at[0] = 0).  reduce_scatter_f32 sums buf over the ranks and
     * puts the sum of this rank's slice in mine (at[rank+1] - at[rank]
     * floats, not inside buf); allgather_f32 copies every rank's slice of buf
     * into the others' buf, in place. */
    int (*reduce_scatter_f32)(hprt_comm *c, const float *buf, float *mine, const size_t *at);
    int (*allgather_f32)(hprt_comm *c, float *buf, const size_t *at);
};

#endif
