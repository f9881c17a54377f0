/*
 * srcdir.h - how a C test binary finds the files of the source tree (golden files, fuzz
 * corpora) from any working directory: $VECSEG_SRCDIR when set (the Makefile sets it), else
 * the directory three levels above the binary itself (B/tests/NAME, B/replay/NAME with the
 * build directory B at the top of the tree).
 */
#ifndef VS_TEST_SRCDIR_H
#define VS_TEST_SRCDIR_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes the path of rel (relative to the top of the source tree) into out[n]; returns out. */
static inline char *test_path(char *out, size_t n, const char *rel)
{
    char top[PATH_MAX] = ".";
    const char *env = getenv("VECSEG_SRCDIR");
    if (env && *env) {
        snprintf(top, sizeof top, "%s", env);
    } else {
        ssize_t len = readlink("/proc/self/exe", top, sizeof top - 1);
        top[len > 0 ? len : 0] = 0;
        for (int up = 0; up < 3; up++) {
            char *slash = strrchr(top, '/');
            if (!slash)
                break;
            *slash = 0;
        }
        if (!top[0])
            strcpy(top, len > 0 ? "/" : ".");
    }
    snprintf(out, n, "%s/%s", top, rel);
    return out;
}

#endif
