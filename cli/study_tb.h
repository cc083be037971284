/* study_tb.h - a study's TensorBoard logs: the `hparams` plugin's
 * experiment at the root, one session per trial (study_tb.c). */
#ifndef HPC_STUDY_TB_H
#define HPC_STUDY_TB_H

#include "study_out.h"
#include "tboard.h"

/* S->tb_root from a TensorBoard directory (NULL or "": none): absolute,
 * DIR/<the study directory's name>.  false when the path cannot be made. */
bool study_tb_root(study *S, const char *dir);
/* A new study: the experiment (varied paths, their domains, the metrics)
 * at the root.  0, or -1 with the reason in err. */
int study_tb_start(study *S, char *err, size_t n);
/* A job of trial t: a new event file in ROOT/NNNN (a fresh trial's first
 * job writes its values first).  NULL when there are no logs (or, said on
 * the terminal, they cannot be written). */
tb_writer *study_tb_trial(study *S, int t, bool fresh);
/* An epoch's scalars (and val_bpc when it is the objective). */
void study_tb_epoch(const study *S, tb_writer *w, const hprt_epoch_report *r);
void study_tb_close(study *S, tb_writer *w);
/* The end of the study: each trial's status (completed and pruned trials as
 * successes, failed ones as failures).  Called with S->mu held or alone. */
void study_tb_end(study *S);

#endif
