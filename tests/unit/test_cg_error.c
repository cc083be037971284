/* test_cg_error.c - the back end's errors carry a class (cg_error.h), and the
 * IR kit (ir.h): entry-block locals, verification failures reported as
 * CG_E_LLVM. */
#include <llvm-c/Core.h>

#include "aot.h"
#include "codegen.h"
#include "hpc_test.h"
#include "ir.h"

#define MANY_DROPOUTS                                                                                                  \
    FMNIST_DATA                                                                                                        \
    "model m {\n"                                                                                                      \
    "    input 784\n"                                                                                                  \
    "    repeat 64 {\n"                                                                                                \
    "        dropout 0.1\n"                                                                                            \
    "    }\n"                                                                                                          \
    "    relu\n"                                                                                                       \
    "    dense classes, softmax\n"                                                                                     \
    "}\n"                                                                                                              \
    "experiment many {\n    data = fashion\n    model = m\n    optimizer = sgd(lr = 0.1)\n    batch = 64\n}\n"

#define SMALL                                                                                                          \
    FMNIST_DATA                                                                                                        \
    "model m {\n    input 784\n    dense 16, relu\n    dense classes, softmax\n}\n"                                    \
    "experiment small {\n    data = fashion\n    model = m\n    optimizer = sgd(lr = 0.1)\n    batch = 64\n}\n"

static void test_layout_limit(void **state)
{
    (void)state;
    checked *c;
    plan *pl = plan_src(&c, MANY_DROPOUTS, NULL, NULL, 0);
    assert_non_null(pl);
    /* `hpc check` refuses a 65th dropout layer (test_limits); the back end's own
     * limit is seen by making the relu after the 64 a dropout behind its back */
    plan_layer *relu = &pl->experiment->layers[65];
    assert_int_equal(relu->kind, PLAN_RELU);
    relu->kind = PLAN_DROPOUT;
    relu->p = 0.1;
    relu->act = PLAN_ACT_NONE;
    int B = 64;
    cg_error err = {0};
    cg_layout *l = cg_layout_new(pl->experiment, 1, &B, 1, &B, 1, &err);
    assert_null(l);
    assert_int_equal(err.cls, CG_E_LIMIT);
    assert_string_equal(err.file, "t.hp");
    /* the 65th dropout: FMNIST_DATA is 8 lines, the relu line 14 */
    assert_int_equal(err.line, 14);
    assert_string_equal(err.msg, "t.hp:14: more than 64 dropout layers");
    assert_string_equal(cg_err_class_name(err.cls), "limit");
    plan_free(pl);
    checked_free(c);
}

static void test_layout_usage(void **state)
{
    (void)state;
    checked *c;
    plan *pl = plan_src(&c, SMALL, NULL, NULL, 0);
    assert_non_null(pl);
    cg_error err = {0};
    assert_null(cg_layout_new(pl->experiment, 1, NULL, 0, NULL, 0, &err));
    assert_int_equal(err.cls, CG_E_USAGE);
    assert_null(err.file);
    assert_string_equal(err.msg, "nothing to compile");
    plan_free(pl);
    checked_free(c);
}

static void test_aot_classes(void **state)
{
    (void)state;
    checked *c;
    plan *pl = plan_src(&c, SMALL, NULL, NULL, 0);
    assert_non_null(pl);
    int one = 1;
    cg_error err = {0};
    cg_layout *l = cg_layout_new(pl->experiment, 1, NULL, 0, &one, 1, &err);
    assert_non_null(l);
    float *params = calloc((size_t)l->n_params, sizeof *params);
    assert_non_null(params);
    hp_aot_options o = {.name = "small", .out_dir = "/nonexistent-hpc-dir/out", .triple = "nonsense-none-triple",
                        .params = params};
    assert_int_equal(hp_aot_build(pl->experiment, l, &o, &err), -1);
    assert_int_equal(err.cls, CG_E_USAGE);
    assert_true(strncmp(err.msg, "unknown target 'nonsense-none-triple'", 37) == 0);
    /* the host, into a directory that does not exist: the object cannot be written */
    o.triple = NULL;
    memset(&err, 0, sizeof err);
    assert_int_equal(hp_aot_build(pl->experiment, l, &o, &err), -1);
    assert_int_equal(err.cls, CG_E_IO);
    assert_true(strncmp(err.msg, "/nonexistent-hpc-dir/out/small.o: ", 34) == 0);
    free(params);
    cg_layout_free(l);
    plan_free(pl);
    checked_free(c);
}

static void test_fail_at(void **state)
{
    (void)state;
    cg_error err;
    cg_fail_at(&err, CG_E_LIMIT, "a.hp", 7, "too many %s", "things");
    assert_string_equal(err.msg, "a.hp:7: too many things");
    assert_int_equal(err.line, 7);
    cg_fail(&err, CG_E_MEMORY, "out of memory");
    assert_string_equal(err.msg, "out of memory");
    assert_null(err.file);
    assert_int_equal(err.line, 0);
    cg_fail(NULL, CG_E_IO, "ignored"); /* no error value: nothing written, no crash */
}

/* ir_alloca from inside a loop puts the local at the start of the entry block. */
static void test_ir_alloca(void **state)
{
    (void)state;
    LLVMContextRef ctx = LLVMContextCreate();
    LLVMModuleRef m = LLVMModuleCreateWithNameInContext("t", ctx);
    LLVMBuilderRef b = LLVMCreateBuilderInContext(ctx);
    LLVMTypeRef f32 = LLVMFloatTypeInContext(ctx);
    LLVMValueRef fn = LLVMAddFunction(m, "f", LLVMFunctionType(LLVMVoidTypeInContext(ctx), NULL, 0, 0));
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(ctx, fn, "entry");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(ctx, fn, "body");
    LLVMPositionBuilderAtEnd(b, entry);
    LLVMValueRef first = ir_alloca(b, f32, "a"); /* an empty entry block */
    LLVMBuildBr(b, body);
    LLVMPositionBuilderAtEnd(b, body);
    LLVMValueRef x = ir_alloca(b, f32, "x");
    LLVMBuildStore(b, LLVMConstReal(f32, 1), x);
    LLVMBuildRetVoid(b);
    assert_ptr_equal(LLVMGetInstructionParent(x), entry);
    assert_ptr_equal(LLVMGetInstructionParent(first), entry);
    assert_ptr_equal(LLVMGetFirstInstruction(entry), x);
    assert_ptr_equal(LLVMGetInsertBlock(b), body); /* the caller's builder did not move */
    LLVMDisposeBuilder(b);
    LLVMDisposeModule(m);
    LLVMContextDispose(ctx);
}

/* An invalid module is an internal error, CG_E_LLVM, with LLVM's reason. */
static void test_ir_optimize_invalid(void **state)
{
    (void)state;
    LLVMContextRef ctx = LLVMContextCreate();
    ir_target t = {.tm = NULL, .triple = "", .data_layout = "", .vectorize = false};
    cg_error err = {0};
    LLVMModuleRef m = ir_module_new(ctx, "bad", &t, &err);
    assert_non_null(m);
    LLVMValueRef fn = LLVMAddFunction(m, "f", LLVMFunctionType(LLVMVoidTypeInContext(ctx), NULL, 0, 0));
    LLVMAppendBasicBlockInContext(ctx, fn, "entry"); /* no terminator */
    assert_int_equal(ir_optimize(m, &t, &err), -1);
    assert_int_equal(err.cls, CG_E_LLVM);
    assert_true(strncmp(err.msg, "the generated module is invalid (a bug in hpc): ", 48) == 0);
    LLVMDisposeModule(m);
    LLVMContextDispose(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_limit),       cmocka_unit_test(test_layout_usage),
        cmocka_unit_test(test_aot_classes),        cmocka_unit_test(test_fail_at),
        cmocka_unit_test(test_ir_alloca),          cmocka_unit_test(test_ir_optimize_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
