/*
 * unit.h - a minimal assertion harness for the C unit tests.
 * Each test binary calls CHECK()/CHECK_EQ_*() and ends with UNIT_DONE(),
 * which prints "N passed, N failed" and returns non-zero on any failure.
 */
#ifndef UNIT_H
#define UNIT_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../srcdir.h" /* test_path: files of the source tree from any directory */

static int unit_pass, unit_fail;

#define CHECK(cond) do { if (cond) unit_pass++; else { unit_fail++; \
    fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_MSG(cond, ...) do { if (cond) unit_pass++; else { unit_fail++; \
    fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define UNIT_DONE() do { printf("%s: %d passed, %d failed\n", __FILE__, unit_pass, unit_fail); \
    return unit_fail ? 1 : 0; } while (0)

/* A seeded uniform draw in [0, 1) (a 64-bit LCG) and a normal one (Box-Muller), for test data. */
static inline double unit_rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / 9007199254740992.0;
}

static inline double unit_gauss(uint64_t *s)
{
    double u = unit_rnd(s) + 1e-12, v = unit_rnd(s);
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}
#endif
