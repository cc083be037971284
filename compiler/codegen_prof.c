/* codegen_prof.c - the profile mode's table (HPC_PROFILE; docs/cli.md).
 *
 * The training steps of a layout made with HPC_PROFILE set add each thread's
 * CPU time per layer and pass to int64 slots in the activation arena
 * (codegen.c, prof_start/prof_stop).  This prints them: per layer and pass
 * the milliseconds per step, averaged over the threads.  Layer 0's slots
 * hold what belongs to no layer: the loss (with the data gradients) and the
 * wait at the barrier before the weight phase (with the forward passes). */
#include <stdint.h>
#include <string.h>

#include "codegen.h"

static double slot_ms(const cg_layout *l, const float *acts, int layer, int pass)
{
    double sum = 0.0;
    for (int t = 0; t < l->threads; t++) {
        int64_t v;
        memcpy(&v, acts + l->prof + (long)t * l->prof_stride + ((long)layer * CG_PROF__COUNT + pass) * 2, sizeof v);
        sum += (double)v;
    }
    return sum / l->threads / 1e6;
}

void cg_profile_report(const plan_experiment *e, const cg_layout *l, const float *acts, long steps, FILE *out)
{
    if (!l || l->prof < 0 || !acts || steps <= 0)
        return;
    static const char *const pass[CG_PROF__COUNT] = {"forward", "data grad", "weight grad", "update"};
    double total[CG_PROF__COUNT] = {0}, all = 0.0;
    fprintf(out, "profile: thread CPU ms per training step (mean of %d threads, %ld steps)\n", l->threads, steps);
    fprintf(out, "%-5s %-10s %5s", "layer", "kind", "line");
    for (int p = 0; p < CG_PROF__COUNT; p++)
        fprintf(out, " %11s", pass[p]);
    fprintf(out, " %11s %6s\n", "total", "share");
    double grand = 0.0;
    for (int i = 0; i < e->n_layers; i++)
        for (int p = 0; p < CG_PROF__COUNT; p++)
            grand += slot_ms(l, acts, i, p) / (double)steps;
    for (int i = 1; i < e->n_layers; i++) {
        double row = 0.0, v[CG_PROF__COUNT];
        for (int p = 0; p < CG_PROF__COUNT; p++) {
            v[p] = slot_ms(l, acts, i, p) / (double)steps;
            row += v[p];
            total[p] += v[p];
        }
        fprintf(out, "%-5d %-10s %5d", i, plan_layer_name(e->layers[i].kind), e->layers[i].line);
        for (int p = 0; p < CG_PROF__COUNT; p++)
            fprintf(out, " %11.3f", v[p]);
        fprintf(out, " %11.3f %5.1f%%\n", row, grand > 0 ? 100.0 * row / grand : 0.0);
        all += row;
    }
    double loss = slot_ms(l, acts, 0, CG_PROF_DGRAD) / (double)steps;
    double wait = slot_ms(l, acts, 0, CG_PROF_FORWARD) / (double)steps;
    fprintf(out, "%-22s %11.3f %5.1f%%\n", "loss", loss, grand > 0 ? 100.0 * loss / grand : 0.0);
    fprintf(out, "%-22s %11.3f %5.1f%%\n", "barrier wait", wait, grand > 0 ? 100.0 * wait / grand : 0.0);
    fprintf(out, "%-16s", "all layers");
    for (int p = 0; p < CG_PROF__COUNT; p++)
        fprintf(out, " %11.3f", total[p]);
    fprintf(out, " %11.3f\n", all);
}
