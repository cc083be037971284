/* comm_mpi.c - hprt_comm over MPI, built as the module hpc-mpi.so (only when
 * CMake finds MPI) and loaded by cli/mpi_load.c when hpc runs under mpirun.
 * Keeping MPI out of the hpc executable is what makes a plain `hpc run` cost
 * nothing: no libmpi is loaded, nothing is initialised. */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hprt_comm.h"

struct hprt_comm_req {
    MPI_Request r;
};

static int fail(hprt_comm *c, const char *what, int rc)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "error %d", rc);
    snprintf(c->error, sizeof c->error, "%.40s: %.200s", what, msg);
    return -1;
}

/* MPI counts are int: larger buffers go in chunks */
enum { CHUNK = 1 << 30 };

static int allreduce(hprt_comm *c, void *buf, size_t n, size_t size, MPI_Datatype t)
{
    for (size_t at = 0; at < n; at += CHUNK) {
        int k = (int)(n - at < CHUNK ? n - at : CHUNK);
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + at * size, k, t, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return fail(c, "MPI_Allreduce", rc);
    }
    return 0;
}

static int allreduce_f32(hprt_comm *c, float *buf, size_t n) { return allreduce(c, buf, n, sizeof *buf, MPI_FLOAT); }
static int allreduce_f64(hprt_comm *c, double *buf, size_t n) { return allreduce(c, buf, n, sizeof *buf, MPI_DOUBLE); }

static int bcast(hprt_comm *c, void *buf, size_t bytes, int root)
{
    for (size_t at = 0; at < bytes || (bytes == 0 && at == 0); at += CHUNK) {
        int k = (int)(bytes - at < CHUNK ? bytes - at : CHUNK);
        int rc = MPI_Bcast((char *)buf + at, k, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return fail(c, "MPI_Bcast", rc);
        if (bytes == 0)
            break;
    }
    return 0;
}

static int barrier(hprt_comm *c)
{
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : fail(c, "MPI_Barrier", rc);
}

static int iallreduce_f32(hprt_comm *c, float *buf, size_t n, hprt_comm_req **req)
{
    if (n > INT32_MAX) {
        snprintf(c->error, sizeof c->error, "MPI_Iallreduce: %zu floats is more than one call takes", n);
        return -1;
    }
    hprt_comm_req *q = malloc(sizeof *q);
    if (!q) {
        snprintf(c->error, sizeof c->error, "out of memory");
        return -1;
    }
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &q->r);
    if (rc != MPI_SUCCESS) {
        free(q);
        return fail(c, "MPI_Iallreduce", rc);
    }
    *req = q;
    return 0;
}

static int wait_req(hprt_comm *c, hprt_comm_req *q)
{
    int rc = MPI_Wait(&q->r, MPI_STATUS_IGNORE);
    free(q);
    return rc == MPI_SUCCESS ? 0 : fail(c, "MPI_Wait", rc);
}

static int send_bytes(hprt_comm *c, int dest, int tag, const void *buf, size_t bytes)
{
    if (bytes > INT32_MAX) {
        snprintf(c->error, sizeof c->error, "MPI_Send: a message of %zu bytes is too long", bytes);
        return -1;
    }
    int rc = MPI_Send(buf, (int)bytes, MPI_BYTE, dest, tag, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : fail(c, "MPI_Send", rc);
}

static int recv_bytes(hprt_comm *c, int src, int tag, void *buf, size_t cap, int *got_src, int *got_tag,
                      size_t *got_bytes)
{
    MPI_Status st;
    int rc = MPI_Probe(src < 0 ? MPI_ANY_SOURCE : src, tag < 0 ? MPI_ANY_TAG : tag, MPI_COMM_WORLD, &st);
    if (rc != MPI_SUCCESS)
        return fail(c, "MPI_Probe", rc);
    int n = 0;
    MPI_Get_count(&st, MPI_BYTE, &n);
    if ((size_t)n > cap) {
        snprintf(c->error, sizeof c->error, "a message of %d bytes from rank %d is longer than %zu", n,
                 st.MPI_SOURCE, cap);
        return -1;
    }
    rc = MPI_Recv(buf, n, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS)
        return fail(c, "MPI_Recv", rc);
    if (got_src)
        *got_src = st.MPI_SOURCE;
    if (got_tag)
        *got_tag = st.MPI_TAG;
    if (got_bytes)
        *got_bytes = (size_t)n;
    return 0;
}

static int poll_msg(hprt_comm *c, int src, int tag)
{
    int flag = 0;
    int rc = MPI_Iprobe(src < 0 ? MPI_ANY_SOURCE : src, tag < 0 ? MPI_ANY_TAG : tag, MPI_COMM_WORLD, &flag,
                        MPI_STATUS_IGNORE);
    return rc == MPI_SUCCESS ? flag != 0 : fail(c, "MPI_Iprobe", rc);
}

/* at[] (size + 1 offsets) as MPI's int counts and displacements; -1 when a
 * slice or the whole does not fit an int */
static int slices(hprt_comm *c, const char *what, const size_t *at, int **counts, int **displs)
{
    int n = c->size;
    if (at[n] > INT32_MAX) {
        snprintf(c->error, sizeof c->error, "%s: %zu floats is more than one call takes", what, at[n]);
        return -1;
    }
    *counts = malloc(sizeof(int) * (size_t)n);
    *displs = malloc(sizeof(int) * (size_t)n);
    if (!*counts || !*displs) {
        free(*counts);
        free(*displs);
        snprintf(c->error, sizeof c->error, "out of memory");
        return -1;
    }
    for (int k = 0; k < n; k++) {
        (*counts)[k] = (int)(at[k + 1] - at[k]);
        (*displs)[k] = (int)at[k];
    }
    return 0;
}

static int reduce_scatter_f32(hprt_comm *c, const float *buf, float *mine, const size_t *at)
{
    int *counts, *displs;
    if (slices(c, "MPI_Reduce_scatter", at, &counts, &displs) != 0)
        return -1;
    int rc = MPI_Reduce_scatter(buf, mine, counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    free(counts);
    free(displs);
    return rc == MPI_SUCCESS ? 0 : fail(c, "MPI_Reduce_scatter", rc);
}

static int allgather_f32(hprt_comm *c, float *buf, const size_t *at)
{
    int *counts, *displs;
    if (slices(c, "MPI_Allgatherv", at, &counts, &displs) != 0)
        return -1;
    int rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_FLOAT, MPI_COMM_WORLD);
    free(counts);
    free(displs);
    return rc == MPI_SUCCESS ? 0 : fail(c, "MPI_Allgatherv", rc);
}

static void abort_all(hprt_comm *c, int status)
{
    (void)c;
    MPI_Abort(MPI_COMM_WORLD, status);
}

static void close_comm(hprt_comm *c)
{
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin)
        MPI_Finalize();
    free(c);
}

/* The module's one entry point: MPI initialised (threads if it grants them),
 * errors returned rather than fatal.  NULL with a message in err on failure. */
hprt_comm *hpc_mpi_open(char *err, size_t errlen);
hprt_comm *hpc_mpi_open(char *err, size_t errlen)
{
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
        snprintf(err, errlen, "MPI_Init_thread failed");
        return NULL;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    hprt_comm *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        MPI_Finalize();
        return NULL;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    c->threads_ok = provided >= MPI_THREAD_MULTIPLE;
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    if (MPI_Get_library_version(lib, &len) == MPI_SUCCESS) {
        lib[strcspn(lib, ",\n")] = 0;
        snprintf(c->library, sizeof c->library, "%.127s", lib);
    }
    c->allreduce_f32 = allreduce_f32;
    c->allreduce_f64 = allreduce_f64;
    c->bcast = bcast;
    c->barrier = barrier;
    c->iallreduce_f32 = iallreduce_f32;
    c->wait = wait_req;
    c->send = send_bytes;
    c->recv = recv_bytes;
    c->poll = poll_msg;
    c->abort = abort_all;
    c->close = close_comm;
    c->reduce_scatter_f32 = reduce_scatter_f32;
    c->allgather_f32 = allgather_f32;
    return c;
}

/* The library's version without initialising MPI (for `hpc --version`). */
void hpc_mpi_library(char *out, size_t len);
void hpc_mpi_library(char *out, size_t len)
{
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int n = 0;
    if (MPI_Get_library_version(lib, &n) != MPI_SUCCESS) {
        snprintf(out, len, "unknown");
        return;
    }
    lib[strcspn(lib, ",\n")] = 0;
    snprintf(out, len, "%s", lib);
}
