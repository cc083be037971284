/* bench/mpi_allreduce.c - the time of MPI_Allreduce (float sums, in place, as
 * hpc's data-parallel step does) for each size given in floats: the median of
 * 50 calls after 5 warm-up calls, on every rank, printed by rank 0 with the
 * bytes per second it amounts to (the ring algorithm moves 2(N-1)/N of the
 * buffer per rank).  bench/mpi.sh builds it with mpicc and runs it on 2 ranks:
 *     mpirun -n 2 ./allreduce 269322 890732 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (rank == 0)
        printf("%12s %12s %12s %14s\n", "floats", "bytes", "median us", "bus GB/s");
    for (int a = 1; a < argc; a++) {
        long n = atol(argv[a]);
        float *buf = calloc((size_t)(n > 0 ? n : 1), sizeof *buf);
        double t[50];
        if (!buf || n <= 0 || n > 1 << 30) {
            fprintf(stderr, "allreduce: bad size '%s'\n", argv[a]);
            MPI_Abort(MPI_COMM_WORLD, 2);
        }
        for (int i = 0; i < 55; i++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            if (i >= 5)
                t[i - 5] = MPI_Wtime() - t0;
        }
        qsort(t, 50, sizeof *t, cmp);
        double med = 0.5 * (t[24] + t[25]);
        double moved = 2.0 * (size - 1) / size * (double)n * sizeof(float);
        if (rank == 0)
            printf("%12ld %12ld %12.1f %14.3f\n", n, n * (long)sizeof(float), med * 1e6, moved / med / 1e9);
        free(buf);
    }
    MPI_Finalize();
    return 0;
}
