/* mpi_load.c - finding and loading hpc-mpi.so (mpi_load.h). */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <dlfcn.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpi_load.h"
#include "tools.h"

#define MODULE "hpc-mpi.so"

bool cli_mpi_launched(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return true;
    }
    return false;
}

/* The module's path: $HPC_MPI_MODULE, else next to the executable (a build
 * tree), else PREFIX/lib/hpc.  False when none exists. */
static bool module_path(char *out, size_t len)
{
    const char *env = getenv("HPC_MPI_MODULE");
    if (env && *env) {
        snprintf(out, len, "%s", env);
        return access(out, R_OK) == 0;
    }
    char exe[4096], prefix[4096];
    if (!cli_self(exe, sizeof exe, prefix, sizeof prefix))
        return false;
    char *slash = strrchr(exe, '/');
    if (slash) {
        *slash = 0;
        if ((size_t)snprintf(out, len, "%s/%s", exe, MODULE) < len && access(out, R_OK) == 0)
            return true;
    }
    if ((size_t)snprintf(out, len, "%s/lib/hpc/%s", prefix, MODULE) < len && access(out, R_OK) == 0)
        return true;
    return false;
}

/* Open MPI's own plugins need libmpi's symbols global, hence RTLD_GLOBAL. */
static void *load(char *path, size_t len, char *err, size_t errlen)
{
    if (!module_path(path, len)) {
        snprintf(err, errlen,
                 "this hpc was built without MPI support (no %s next to it or in its lib/hpc); install Open MPI "
                 "(libopenmpi-dev) and rebuild; 'hpc --version' says whether MPI is in",
                 MODULE);
        return NULL;
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(err, errlen, "%s cannot be loaded: %s", path, why ? why : "unknown reason");
    }
    return h;
}

int cli_mpi_open(hprt_comm **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cli_mpi_launched())
        return 0;
    char path[4200];
    void *h = load(path, sizeof path, err, errlen);
    if (!h)
        return -1;
    hprt_comm *(*open_fn)(char *, size_t);
    *(void **)&open_fn = dlsym(h, "hpc_mpi_open");
    if (!open_fn) {
        snprintf(err, errlen, "%s has no hpc_mpi_open: not hpc's MPI module", path);
        return -1;
    }
    /* the module stays loaded until the process ends: MPI cannot be unloaded */
    *out = open_fn(err, errlen);
    return *out ? 0 : -1;
}

void cli_mpi_close(hprt_comm *c)
{
    if (c)
        c->close(c);
}

void cli_mpi_version(FILE *out)
{
    char path[4200], err[512];
    void *h = load(path, sizeof path, err, sizeof err);
    if (!h) {
        fprintf(out, "MPI: absent (%s)\n", err);
        return;
    }
    void (*lib_fn)(char *, size_t);
    *(void **)&lib_fn = dlsym(h, "hpc_mpi_library");
    char lib[256] = "unknown library";
    if (lib_fn)
        lib_fn(lib, sizeof lib);
    fprintf(out, "MPI: %s, module %s (used under mpirun or srun only)\n", lib, path);
    dlclose(h);
}

long cli_mpi_rank_cores(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        cores = 1;
    long local = 1;
    const char *vars[3] = {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"};
    for (int i = 0; i < 3 && local == 1; i++) {
        const char *v = getenv(vars[i]);
        if (v && atol(v) > 1)
            local = atol(v);
    }
    long t = cores / local > 0 ? cores / local : 1;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0 && CPU_COUNT(&set) < t)
        t = CPU_COUNT(&set);
    const char *env[2] = {"HPC_THREADS", "OMP_NUM_THREADS"};
    for (int i = 0; i < 2; i++) {
        const char *v = getenv(env[i]);
        if (v && atol(v) > 0) {
            t = atol(v) < cores ? atol(v) : cores;
            break;
        }
    }
    return t;
}
