/* jit.h - ORC LLJIT for the host: one JIT per compiled experiment.
 *
 * Usage: hp_jit_new() -> build a module in hp_jit_context() for hp_jit_target()
 * (ir_module_new, ir_optimize: ir.h) -> hp_jit_define() the runtime's symbols (functions and the experiment's
 * buffers) -> hp_jit_add_module() (takes the module) -> hp_jit_lookup().
 * Or, to compile once and link many times: hp_jit_emit_object() the
 * module, then hp_jit_add_object() the bytes into each JIT (each with its
 * own symbols).
 * Every LLVM error is consumed and turned into a cg_error (CG_E_LLVM).
 */
#ifndef HP_JIT_H
#define HP_JIT_H

#include <stddef.h>

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "ir.h"

typedef struct hp_jit hp_jit;

typedef struct {
    const char *name;
    void *addr;
    int is_function;
} hp_jit_symbol;

/* NULL on failure, with the reason in err. */
hp_jit *hp_jit_new(cg_error *err);
void hp_jit_free(hp_jit *j);

/* The context to build modules in (owned by the JIT). */
LLVMContextRef hp_jit_context(hp_jit *j);
/* The host as the JIT compiles for it, for ir_module_new() and ir_optimize():
 * its triple and data layout, a target machine like the JIT's, vectorising. */
ir_target hp_jit_target(hp_jit *j);

/* Absolute symbols: runtime functions and data the module refers to. */
int hp_jit_define(hp_jit *j, const hp_jit_symbol *syms, int n, cg_error *err);
/* Takes ownership of m, even on failure. */
int hp_jit_add_module(hp_jit *j, LLVMModuleRef m, cg_error *err);
/* Compiles m (optimised already) into a relocatable object for this host,
 * as the JIT's own compiler would (PIC, small code model): *data is
 * malloc'd, *n its bytes.  Takes ownership of m, even on failure. */
int hp_jit_emit_object(hp_jit *j, LLVMModuleRef m, void **data, size_t *n, cg_error *err);
/* Links a copy of an object from hp_jit_emit_object (of any JIT of this
 * process) against this JIT's symbols. */
int hp_jit_add_object(hp_jit *j, const void *data, size_t n, cg_error *err);
/* The address of a function of the module, or NULL with the reason in err. */
void *hp_jit_lookup(hp_jit *j, const char *name, cg_error *err);

#endif
