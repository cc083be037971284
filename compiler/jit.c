/* jit.c - ORC LLJIT for the host (style.md, "LLVM-C: the recipe and its traps"). */
#include "jit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>

struct hp_jit {
    LLVMOrcThreadSafeContextRef tsc;
    LLVMOrcLLJITRef jit;
    LLVMTargetMachineRef tm;
};

/* Consumes err; returns 0 when there was none. */
static int take_error(LLVMErrorRef e, const char *what, char *err, size_t errlen)
{
    if (!e)
        return 0;
    char *msg = LLVMGetErrorMessage(e); /* consumes e */
    snprintf(err, errlen, "%s: %s", what, msg);
    LLVMDisposeErrorMessage(msg);
    return -1;
}

hp_jit *hp_jit_new(char *err, size_t errlen)
{
    if (LLVMInitializeNativeTarget() || LLVMInitializeNativeAsmPrinter()) {
        snprintf(err, errlen, "LLVM has no code generator for this machine");
        return NULL;
    }
    hp_jit *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    LLVMOrcJITTargetMachineBuilderRef jtmb;
    if (take_error(LLVMOrcJITTargetMachineBuilderDetectHost(&jtmb), "detecting the host", err, errlen)) {
        free(j);
        return NULL;
    }
    LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, jtmb); /* takes jtmb */
    if (take_error(LLVMOrcCreateLLJIT(&j->jit, builder), "creating the JIT", err, errlen)) { /* takes builder */
        free(j);
        return NULL;
    }
    j->tsc = LLVMOrcCreateNewThreadSafeContext();

    /* a target machine like the JIT's, for the optimisation pipeline */
    const char *triple = LLVMOrcLLJITGetTripleString(j->jit);
    LLVMTargetRef target;
    char *msg = NULL;
    if (LLVMGetTargetFromTriple(triple, &target, &msg)) {
        snprintf(err, errlen, "no LLVM target for %s: %s", triple, msg ? msg : "?");
        LLVMDisposeMessage(msg);
        hp_jit_free(j);
        return NULL;
    }
    char *cpu = LLVMGetHostCPUName();
    char *features = LLVMGetHostCPUFeatures();
    j->tm = LLVMCreateTargetMachine(target, triple, cpu, features, LLVMCodeGenLevelAggressive, LLVMRelocDefault,
                                    LLVMCodeModelJITDefault);
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(features);
    if (!j->tm) {
        snprintf(err, errlen, "cannot create a target machine for %s", triple);
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
    free(j);
}

LLVMContextRef hp_jit_context(hp_jit *j) { return LLVMOrcThreadSafeContextGetContext(j->tsc); }

LLVMTargetMachineRef hp_jit_target_machine(hp_jit *j) { return j->tm; }

void hp_jit_prepare_module(hp_jit *j, LLVMModuleRef m)
{
    LLVMSetTarget(m, LLVMOrcLLJITGetTripleString(j->jit));
    LLVMSetDataLayout(m, LLVMOrcLLJITGetDataLayoutStr(j->jit));
}

int hp_jit_optimize(hp_jit *j, LLVMModuleRef m, char *err, size_t errlen)
{
    char *msg = NULL;
    if (LLVMVerifyModule(m, LLVMReturnStatusAction, &msg)) {
        snprintf(err, errlen, "the generated module is invalid (a bug in hpc): %s", msg ? msg : "?");
        LLVMDisposeMessage(msg);
        return -1;
    }
    LLVMDisposeMessage(msg);
    LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
    LLVMPassBuilderOptionsSetLoopVectorization(opts, 1);
    LLVMPassBuilderOptionsSetSLPVectorization(opts, 1);
    LLVMPassBuilderOptionsSetLoopUnrolling(opts, 1);
    int rc = take_error(LLVMRunPasses(m, "default<O3>", j->tm, opts), "optimising", err, errlen);
    LLVMDisposePassBuilderOptions(opts);
    return rc;
}

int hp_jit_define(hp_jit *j, const hp_jit_symbol *syms, int n, char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    LLVMOrcCSymbolMapPair *pairs = calloc((size_t)n, sizeof *pairs);
    if (!pairs) {
        snprintf(err, errlen, "out of memory");
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
    return take_error(e, "defining the runtime's symbols", err, errlen);
}

int hp_jit_add_module(hp_jit *j, LLVMModuleRef m, char *err, size_t errlen)
{
    LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(m, j->tsc); /* takes m */
    LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(j->jit);
    /* takes tsm even when it fails: disposing it afterwards would crash */
    return take_error(LLVMOrcLLJITAddLLVMIRModule(j->jit, jd, tsm), "adding the module", err, errlen);
}

void *hp_jit_lookup(hp_jit *j, const char *name, char *err, size_t errlen)
{
    LLVMOrcExecutorAddress addr = 0;
    if (take_error(LLVMOrcLLJITLookup(j->jit, &addr, name), name, err, errlen))
        return NULL;
    return (void *)(uintptr_t)addr;
}
