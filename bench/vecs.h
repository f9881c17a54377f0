/*
 * vecs.h - what bench/'s C tools share: a fatal one-line error, an fvecs/ivecs reader and a
 * monotonic clock.  Define BENCH_TOOL (the tool's name, for messages) before including it.
 */
#ifndef BENCH_VECS_H
#define BENCH_VECS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void die(const char *msg, const char *what)
{
    fprintf(stderr, BENCH_TOOL ": %s%s%s\n", what ? what : "", what ? ": " : "", msg);
    exit(1);
}

/* Reads an fvecs or ivecs file (each row: int32 dimension, then dim 4-byte values). */
static void *read_vecs(const char *path, size_t *rows, size_t *dim)
{
    FILE *f = fopen(path, "rb");
    int32_t d;
    if (!f || fread(&d, 4, 1, f) != 1 || d <= 0)
        die("cannot read", path);
    fseek(f, 0, SEEK_END);
    size_t bytes = (size_t)ftell(f), row = 4 + 4 * (size_t)d;
    fseek(f, 0, SEEK_SET);
    if (bytes % row)
        die("size is not a whole number of rows", path);
    *dim = (size_t)d;
    *rows = bytes / row;
    char *out = malloc(*rows * *dim * 4 + 1);
    for (size_t r = 0; out && r < *rows; r++)
        if (fread(&d, 4, 1, f) != 1 || fread(out + r * *dim * 4, 4, *dim, f) != *dim)
            die("damaged row", path);
    fclose(f);
    if (!out)
        die("out of memory", path);
    return out;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#endif
