/* jit.c - ORC LLJIT for the host (style.md, "LLVM-C: the recipe and its traps"). */
#include "jit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>

struct hp_jit {
    LLVMOrcThreadSafeContextRef tsc;
    LLVMOrcLLJITRef jit;
    LLVMTargetMachineRef tm;     /* the optimisation pipeline's */
    LLVMTargetMachineRef obj_tm; /* objects, as LLJIT's JITLink set-up compiles them (made when first needed) */
};

/* Consumes err; returns 0 when there was none. */
static int take_error(LLVMErrorRef e, const char *what, cg_error *err)
{
    if (!e)
        return 0;
    char *msg = LLVMGetErrorMessage(e); /* consumes e */
    cg_fail(err, CG_E_LLVM, "%s: %s", what, msg);
    LLVMDisposeErrorMessage(msg);
    return -1;
}

/* A target machine for the JIT's triple and this host's CPU and features. */
static LLVMTargetMachineRef host_tm(hp_jit *j, LLVMCodeGenOptLevel level, LLVMRelocMode reloc, LLVMCodeModel model,
                                    cg_error *err)
{
    const char *triple = LLVMOrcLLJITGetTripleString(j->jit);
    LLVMTargetRef target;
    char *msg = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &msg)) {
        cg_fail(err, CG_E_LLVM, "no LLVM target for %s: %s", triple, msg ? msg : "?");
        LLVMDisposeMessage(msg);
        return NULL;
    }
    char *cpu = LLVMGetHostCPUName();
    char *features = LLVMGetHostCPUFeatures();
    LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, triple, cpu, features, level, reloc, model);
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(features);
    if (!tm)
        cg_fail(err, CG_E_LLVM, "cannot create a target machine for %s", triple);
    return tm;
}

hp_jit *hp_jit_new(cg_error *err)
{
    if (LLVMInitializeNativeTarget() || LLVMInitializeNativeAsmPrinter()) {
        cg_fail(err, CG_E_USAGE, "LLVM has no code generator for this machine");
        return NULL;
    }
    hp_jit *j = calloc(1, sizeof *j);
    if (!j) {
        cg_fail(err, CG_E_MEMORY, "out of memory");
        return NULL;
    }
    LLVMOrcJITTargetMachineBuilderRef jtmb;
    if (take_error(LLVMOrcJITTargetMachineBuilderDetectHost(&jtmb), "detecting the host", err)) {
        free(j);
        return NULL;
    }
    LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, jtmb); /* takes jtmb */
    if (take_error(LLVMOrcCreateLLJIT(&j->jit, builder), "creating the JIT", err)) { /* takes builder */
        free(j);
        return NULL;
    }
    j->tsc = LLVMOrcCreateNewThreadSafeContext();

    /* a target machine like the JIT's, for the optimisation pipeline */
    if (!(j->tm = host_tm(j, LLVMCodeGenLevelAggressive, LLVMRelocDefault, LLVMCodeModelJITDefault, err))) {
        hp_jit_free(j);
        return NULL;
    }
    return j;
}

void hp_jit_free(hp_jit *j)
{
    if (!j)
        return;
    if (j->jit) {
        LLVMErrorRef e = LLVMOrcDisposeLLJIT(j->jit);
        if (e)
            LLVMConsumeError(e);
    }
    if (j->tsc)
        LLVMOrcDisposeThreadSafeContext(j->tsc);
    if (j->tm)
        LLVMDisposeTargetMachine(j->tm);
    if (j->obj_tm)
        LLVMDisposeTargetMachine(j->obj_tm);
    free(j);
}

LLVMContextRef hp_jit_context(hp_jit *j) { return LLVMOrcThreadSafeContextGetContext(j->tsc); }

ir_target hp_jit_target(hp_jit *j)
{
    return (ir_target){.tm = j->tm,
                       .triple = LLVMOrcLLJITGetTripleString(j->jit),
                       .data_layout = LLVMOrcLLJITGetDataLayoutStr(j->jit),
                       .vectorize = true};
}

int hp_jit_define(hp_jit *j, const hp_jit_symbol *syms, int n, cg_error *err)
{
    if (n == 0)
        return 0;
    LLVMOrcCSymbolMapPair *pairs = calloc((size_t)n, sizeof *pairs);
    if (!pairs) {
        cg_fail(err, CG_E_MEMORY, "out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        pairs[i].Name = LLVMOrcLLJITMangleAndIntern(j->jit, syms[i].name);
        pairs[i].Sym.Address = (LLVMOrcExecutorAddress)(uintptr_t)syms[i].addr;
        pairs[i].Sym.Flags.GenericFlags =
            LLVMJITSymbolGenericFlagsExported | (syms[i].is_function ? LLVMJITSymbolGenericFlagsCallable : 0);
        pairs[i].Sym.Flags.TargetFlags = 0;
    }
    LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(pairs, (size_t)n); /* takes the names */
    free(pairs);
    LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(j->jit);
    LLVMErrorRef e = LLVMOrcJITDylibDefine(jd, mu); /* takes mu, even on failure */
    return take_error(e, "defining the runtime's symbols", err);
}

int hp_jit_add_module(hp_jit *j, LLVMModuleRef m, cg_error *err)
{
    LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(m, j->tsc); /* takes m */
    LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(j->jit);
    /* takes tsm even when it fails: disposing it afterwards would crash */
    return take_error(LLVMOrcLLJITAddLLVMIRModule(j->jit, jd, tsm), "adding the module", err);
}

int hp_jit_emit_object(hp_jit *j, LLVMModuleRef m, void **data, size_t *n, cg_error *err)
{
    *data = NULL;
    *n = 0;
    if (!j->obj_tm) {
        /* LLJIT links with JITLink on x86-64 and AArch64 ELF, for which it
         * compiles position-independent code in the small code model at
         * the default optimisation level of the code generator: the same */
        if (!(j->obj_tm = host_tm(j, LLVMCodeGenLevelDefault, LLVMRelocPIC, LLVMCodeModelSmall, err))) {
            LLVMDisposeModule(m);
            return -1;
        }
    }
    char *msg = NULL;
    LLVMMemoryBufferRef buf = NULL;
    LLVMBool failed = LLVMTargetMachineEmitToMemoryBuffer(j->obj_tm, m, LLVMObjectFile, &msg, &buf);
    LLVMDisposeModule(m);
    if (failed) {
        cg_fail(err, CG_E_LLVM, "compiling the module: %s", msg ? msg : "?");
        LLVMDisposeMessage(msg);
        return -1;
    }
    size_t size = LLVMGetBufferSize(buf);
    void *copy = malloc(size ? size : 1);
    if (!copy) {
        LLVMDisposeMemoryBuffer(buf);
        cg_fail(err, CG_E_MEMORY, "out of memory");
        return -1;
    }
    memcpy(copy, LLVMGetBufferStart(buf), size);
    LLVMDisposeMemoryBuffer(buf);
    *data = copy;
    *n = size;
    return 0;
}

int hp_jit_add_object(hp_jit *j, const void *data, size_t n, cg_error *err)
{
    LLVMMemoryBufferRef buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(data, n, "hp_step");
    if (!buf) {
        cg_fail(err, CG_E_MEMORY, "out of memory");
        return -1;
    }
    LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(j->jit);
    /* takes buf, even when it fails */
    return take_error(LLVMOrcLLJITAddObjectFile(j->jit, jd, buf), "linking the compiled object", err);
}

void *hp_jit_lookup(hp_jit *j, const char *name, cg_error *err)
{
    LLVMOrcExecutorAddress addr = 0;
    if (take_error(LLVMOrcLLJITLookup(j->jit, &addr, name), name, err))
        return NULL;
    return (void *)(uintptr_t)addr;
}
