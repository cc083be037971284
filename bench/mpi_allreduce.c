/* bench/mpi_allreduce.c - the time of hpc's data-parallel gradient exchange
 * for each size given in floats, on every rank, printed by rank 0: the
 * blocking MPI_Allreduce (float sums, in place) and the sharded update's
 * pair (docs/distributed.md): MPI_Reduce_scatter of the sums into this
 * rank's slice, then MPI_Allgatherv of the slices in place (the slices
 * 16-float aligned, as hprt_dp_slices makes them).  Each is the median of 50
 * calls after 5 warm-up calls, alternating; with the bytes per second the
 * allreduce amounts to (the ring algorithm moves 2(N-1)/N of the buffer per
 * rank; the pair moves the same).  bench/mpi.sh builds it with mpicc and runs
 * it on 2 ranks:
 *     mpirun -n 2 ./allreduce 269322 890732 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *t)
{
    qsort(t, 50, sizeof *t, cmp);
    return 0.5 * (t[24] + t[25]);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int *counts = malloc(sizeof(int) * (size_t)size), *displs = malloc(sizeof(int) * (size_t)size);
    if (!counts || !displs)
        MPI_Abort(MPI_COMM_WORLD, 2);
    if (rank == 0)
        printf("%12s %12s %12s %14s %16s\n", "floats", "bytes", "median us", "bus GB/s", "scatter+gather us");
    for (int a = 1; a < argc; a++) {
        long n = atol(argv[a]);
        float *buf = calloc((size_t)(n > 0 ? n : 1), sizeof *buf), *mine = calloc((size_t)(n > 0 ? n : 1), sizeof *mine);
        double t[50], s[50];
        if (!buf || !mine || n <= 0 || n > 1 << 30) {
            fprintf(stderr, "allreduce: bad size '%s'\n", argv[a]);
            MPI_Abort(MPI_COMM_WORLD, 2);
        }
        long at = 0;
        for (int k = 0; k < size; k++) { /* hprt_dp_slices */
            long b = k + 1 == size ? n : ((n * (k + 1) / size + 15) & ~15L);
            b = b > n ? n : b < at ? at : b;
            counts[k] = (int)(b - at);
            displs[k] = (int)at;
            at = b;
        }
        for (int i = 0; i < 55; i++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            double t1 = MPI_Wtime();
            MPI_Barrier(MPI_COMM_WORLD);
            double t2 = MPI_Wtime();
            MPI_Reduce_scatter(buf, mine, counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_FLOAT, MPI_COMM_WORLD);
            double t3 = MPI_Wtime();
            if (i >= 5) {
                t[i - 5] = t1 - t0;
                s[i - 5] = t3 - t2;
            }
        }
        double med = median(t), pair = median(s);
        double moved = 2.0 * (size - 1) / size * (double)n * sizeof(float);
        if (rank == 0)
            printf("%12ld %12ld %12.1f %14.3f %16.1f\n", n, n * (long)sizeof(float), med * 1e6, moved / med / 1e9,
                   pair * 1e6);
        free(buf);
        free(mine);
    }
    free(counts);
    free(displs);
    MPI_Finalize();
    return 0;
}
