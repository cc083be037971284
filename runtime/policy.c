/* policy.c - names of the policy enums (the inverse of the checker's tables). */
#include "hprt_policy.h"

const char *hprt_metric_name(hprt_metric m)
{
    static const char *const names[HPRT_METRIC__COUNT] = {
        [HPRT_METRIC_VAL_LOSS] = "val_loss",
        [HPRT_METRIC_VAL_ACCURACY] = "val_accuracy",
        [HPRT_METRIC_VAL_BPC] = "val_bpc",
        [HPRT_METRIC_TRAIN_LOSS] = "train_loss",
    };
    return (unsigned)m < HPRT_METRIC__COUNT ? names[m] : "?";
}
