/* hprt.h - the public header of libhprt, hpc's runtime.
 *
 * libhprt knows nothing of the .hp language.  It loads data, holds tensors,
 * wraps OpenBLAS, implements every layer, loss, optimizer and schedule in plain
 * C (the reference the generated code is tested against), and drives training.
 * It never prints: errors come back as hprt_error.
 */
#ifndef HPRT_H
#define HPRT_H

#include "hprt_base.h"
#include "hprt_data.h"
#include "hprt_kernels.h"
#include "hprt_optim.h"
#include "hprt_policy.h"
#include "hprt_rng.h"
#include "hprt_sched.h"

#endif
