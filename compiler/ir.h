/* ir.h - the IR kit: what every module hpc builds goes through, written once.
 *
 * The JIT's modules (cg_compile, cg_compile_schedule, cg_emit_llvm) and the
 * AOT object (hp_aot_build) are all made by ir_module_new() for a target and
 * finished by ir_optimize(); their locals come from ir_alloca().  The IR
 * math (activations, softmax, loops, constants) is in codegen_int.h, built
 * on the same kit (codegen_ir.c).
 */
#ifndef HP_IR_H
#define HP_IR_H

#include <stdbool.h>

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "cg_error.h"

/* What a module is compiled for. */
typedef struct {
    LLVMTargetMachineRef tm;  /* runs the optimisation pipeline (and, for hpc build, writes the object) */
    const char *triple;
    const char *data_layout;  /* NULL: the target machine's */
    bool vectorize;           /* ask the pipeline for loop and SLP vectorisation and unrolling (the JIT) */
} ir_target;

/* A module called `name` in ctx with t's triple and data layout; NULL with
 * err on failure. */
LLVMModuleRef ir_module_new(LLVMContextRef ctx, const char *name, const ir_target *t, cg_error *err);

/* Verifies m (an invalid module is a bug in hpc: CG_E_LLVM) and optimises it
 * with the new pass manager (`default<O3>`) for t.  0 on success. */
int ir_optimize(LLVMModuleRef m, const ir_target *t, cg_error *err);

/* A local of type t in the entry block of the function b is emitting into,
 * before its first instruction: LLVM promotes only those to registers, and
 * an alloca inside a loop would grow the stack at every iteration. */
LLVMValueRef ir_alloca(LLVMBuilderRef b, LLVMTypeRef t, const char *name);

#endif
