/* jit.h - ORC LLJIT for the host: one JIT per compiled experiment.
 *
 * Usage: hp_jit_new() -> build a module in hp_jit_context() -> hp_jit_optimize()
 * -> hp_jit_define() the runtime's symbols (functions and the experiment's
 * buffers) -> hp_jit_add_module() (takes the module) -> hp_jit_lookup().
 * Every LLVM error is consumed and turned into a message.
 */
#ifndef HP_JIT_H
#define HP_JIT_H

#include <stddef.h>

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

typedef struct hp_jit hp_jit;

typedef struct {
    const char *name;
    void *addr;
    int is_function;
} hp_jit_symbol;

/* NULL on failure, with the reason in err. */
hp_jit *hp_jit_new(char *err, size_t errlen);
void hp_jit_free(hp_jit *j);

/* The context to build modules in (owned by the JIT). */
LLVMContextRef hp_jit_context(hp_jit *j);
/* A target machine for the host, for LLVMRunPasses and the data layout. */
LLVMTargetMachineRef hp_jit_target_machine(hp_jit *j);
/* Sets the module's triple and data layout to the JIT's. */
void hp_jit_prepare_module(hp_jit *j, LLVMModuleRef m);

/* Verifies and optimises with the new pass manager (`default<O3>`). */
int hp_jit_optimize(hp_jit *j, LLVMModuleRef m, char *err, size_t errlen);

/* Absolute symbols: runtime functions and data the module refers to. */
int hp_jit_define(hp_jit *j, const hp_jit_symbol *syms, int n, char *err, size_t errlen);
/* Takes ownership of m, even on failure. */
int hp_jit_add_module(hp_jit *j, LLVMModuleRef m, char *err, size_t errlen);
/* The address of a function of the module, or NULL with the reason in err. */
void *hp_jit_lookup(hp_jit *j, const char *name, char *err, size_t errlen);

#endif
