/*
 * replay.c - runs a fuzz target without libFuzzer: the main() that `make check` links with
 * each target (any C compiler, no instrumentation needed) to replay fixed inputs.
 *
 *   replay/NAME [FILE|DIR...]
 *
 * With no arguments it replays tests/fuzz/corpus/NAME/ and tests/fuzz/regress/NAME/ of the
 * source tree (found from any directory: srcdir.h); a directory stands for the files in it.  Each input is one test: it
 * passes when the target returns, and a crash or a sanitizer report ends the process, naming
 * the input on stderr just before.  Ends with "NAME: N passed, 0 failed".
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../srcdir.h"

#ifndef FUZZ_NAME
#error "compile with -DFUZZ_NAME=\"target\""
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Under ASan (make check SAN=1) an allocation above 2 GiB is a failure, as it is for libFuzzer
   (-rss_limit_mb=2048): inputs are small, so only a size trusted from a header gets there.
   Without ASan nothing calls this. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "max_allocation_size_mb=2048"; }

static int passed;

static void run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open '%s'\n", FUZZ_NAME, path);
        exit(66);
    }
    size_t cap = 4096, n = 0, got;
    uint8_t *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0)
        if ((n += got) == cap)
            buf = realloc(buf, cap *= 2);
    if (!buf || ferror(f)) {
        fprintf(stderr, "%s: cannot read '%s'\n", FUZZ_NAME, path);
        exit(74);
    }
    fclose(f);
    /* an exactly sized copy, as libFuzzer gives, so a read past the end is caught */
    uint8_t *data = malloc(n ? n : 1);
    if (!data)
        exit(71);
    memcpy(data, buf, n);
    free(buf);
    fprintf(stderr, "%s: replaying %s\n", FUZZ_NAME, path);
    LLVMFuzzerTestOneInput(data, n);
    free(data);
    passed++;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A directory's files in name order; a missing directory is empty. */
static void run_path(const char *path, int must_exist)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (!must_exist)
            return;
        fprintf(stderr, "%s: no such input '%s'\n", FUZZ_NAME, path);
        exit(66);
    }
    if (!S_ISDIR(st.st_mode)) {
        run_file(path);
        return;
    }
    DIR *d = opendir(path);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        names = realloc(names, (n + 1) * sizeof *names);
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        if (!names || !(names[n] = malloc(len)))
            exit(71);
        snprintf(names[n++], len, "%s/%s", path, e->d_name);
    }
    if (d)
        closedir(d);
    if (n)
        qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        run_file(names[i]);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        for (int i = 1; i < argc; i++)
            run_path(argv[i], 1);
    else {
        char path[PATH_MAX];
        run_path(test_path(path, sizeof path, "tests/fuzz/corpus/" FUZZ_NAME), 1); /* every target has seeds */
        run_path(test_path(path, sizeof path, "tests/fuzz/regress/" FUZZ_NAME), 0);
    }
    printf("%s: %d passed, 0 failed\n", FUZZ_NAME, passed);
    return 0;
}
