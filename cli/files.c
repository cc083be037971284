/* files.c - small file and text helpers of the command line (cli.h): mkdir -p
 * and the one escape of text into HTML/SVG markup.  Kept apart from common.c
 * so the command line's module tests (test_cli_*) link them alone. */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "files.h"

int cli_make_dirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

void cli_markup(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else if (*s == '\'')
            fputs("&#39;", f);
        else
            fputc(*s, f);
    }
}
