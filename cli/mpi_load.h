/* mpi_load.h - MPI when hpc was started by mpirun or srun, and only then.
 * The MPI code is a separate module, hpc-mpi.so (cli/mpi/comm_mpi.c), next to
 * the executable in a build tree and in PREFIX/lib/hpc when installed; hpc
 * itself does not link libmpi.  docs/distributed.md. */
#ifndef CLI_MPI_LOAD_H
#define CLI_MPI_LOAD_H

#include <stdbool.h>
#include <stdio.h>

#include "hprt_comm.h"

/* True when the environment says this process is one rank of an MPI job
 * (Open MPI's mpirun, or a PMI/PMIx launcher such as Slurm's srun). */
bool cli_mpi_launched(void);

/* Opens the communicator: *out = NULL (and 0) when not launched by MPI; the
 * module loaded and MPI initialised otherwise.  -1 with a message in err when
 * launched by MPI but the module is missing or MPI_Init fails. */
int cli_mpi_open(hprt_comm **out, char *err, size_t errlen);

/* Closes it (MPI_Finalize); NULL is fine. */
void cli_mpi_close(hprt_comm *c);

/* `hpc --version`'s line about MPI: the module's path and its library's
 * version, or that it is absent.  Loads the module without initialising MPI. */
void cli_mpi_version(FILE *out);

/* The cores one rank of an MPI job may use: the node's cores shared among
 * its ranks (OMPI_COMM_WORLD_LOCAL_SIZE, MPI_LOCALNRANKS or
 * SLURM_NTASKS_PER_NODE), at most the ones the rank is bound to; HPC_THREADS
 * or OMP_NUM_THREADS instead when set, up to the node's cores. */
long cli_mpi_rank_cores(void);

#endif
