/* cg_error.h - the back end's error value (layout, code generation, JIT, AOT).
 *
 * As the front end's diagnostics (diag.h) and the runtime's hprt_error, an
 * error has a class the caller acts on and a message it prints; the command
 * line picks its exit status from the class, never from the text.
 */
#ifndef HP_CG_ERROR_H
#define HP_CG_ERROR_H

typedef enum {
    CG_OK = 0,
    CG_E_USAGE,  /* the request cannot be met: an unsupported model, target or option */
    CG_E_LIMIT,  /* a limit of the back end (dropout sites, a layer it cannot compile yet) */
    CG_E_LLVM,   /* LLVM refused the module or failed to compile it: an internal error */
    CG_E_IO,     /* an output file cannot be written */
    CG_E_MEMORY, /* out of memory */
} cg_err_class;

typedef struct {
    cg_err_class cls;
    char msg[1024];   /* the whole message, "FILE:LINE: " included when it has a place */
    const char *file; /* the .hp file and line of the cause, else NULL and 0 */
    int line;
} cg_error;

/* Sets *err (err may be NULL); printf-style message. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void cg_fail(cg_error *err, cg_err_class cls, const char *fmt, ...);
/* The same at a place of the source: the message gets "FILE:LINE: " in front. */
#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
void cg_fail_at(cg_error *err, cg_err_class cls, const char *file, int line, const char *fmt, ...);
/* A class's name ("usage", "limit", "llvm", "io", "memory"; "ok"). */
const char *cg_err_class_name(cg_err_class cls);

#endif
