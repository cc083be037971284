/* load.h - loading a Plan's data through the runtime. */
#ifndef HP_LOAD_H
#define HP_LOAD_H

#include <stdbool.h>

#include "hprt_data.h"
#include "plan.h"

typedef struct {
    hprt_dataset train, valid, test;
    bool has_valid, has_test;
    hprt_norm norm;
    bool has_norm;
} hp_loaded_data;

/* Loads train, cuts the splits, scales or normalizes (statistics of the
 * training part only) and checks every label.  HPRT_E_DATA with a message
 * naming the file and record. */
hprt_status hp_load_data(const plan_data *d, hp_loaded_data *out, hprt_error *err);
void hp_loaded_data_free(hp_loaded_data *d);

#endif
