/*
 * levels.h - for the kernel tests: running a test on every instruction-set level this CPU runs
 * (naming the skipped ones), and the blocked summation order of lib/simd/simd.h written out
 * from its description, to check kernels against it bit for bit.
 */
#ifndef UNIT_LEVELS_H
#define UNIT_LEVELS_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "simd/distance.h"
#include "simd/simd.h"

/* Runs test(level) with each level this CPU runs selected; returns how many ran. */
static int each_level(void (*test)(const char *level))
{
    int ran = 0;
    for (int l = 0; l < VS_SIMD_LEVELS; l++) {
        const char *name = vs_simd_level_name((vs_simd_level)l);
        if (vs_simd_select(name)) {
            printf("  level %s: skipped (this CPU does not run it)\n", name);
            continue;
        }
        test(name);
        printf("  level %s: tested\n", name);
        ran++;
    }
    vs_simd_select("auto");
    return ran;
}

/* The blocked order over d terms: term i goes to A[(i mod 64) / 16][i mod 16], a last group
   of fewer than 16 to A[3] padded with zero terms; step(a, i, ctx) returns a after term i
   (i >= d: a zero term), one rounding; then the tree. */
static float blocked(size_t d, float (*step)(float a, size_t i, const void *ctx), const void *ctx)
{
    float A[4][16] = {{0}}, S[16], u[8], w[4];
    size_t whole = d / 16 * 16;
    for (size_t i = 0; i < whole + (d > whole ? 16 : 0); i++) {
        size_t j = i < whole ? i % 64 / 16 : 3;
        A[j][i % 16] = step(A[j][i % 16], i, ctx);
    }
    for (int l = 0; l < 16; l++)
        S[l] = (A[0][l] + A[1][l]) + (A[2][l] + A[3][l]);
    for (int l = 0; l < 8; l++)
        u[l] = S[l] + S[l + 8];
    for (int l = 0; l < 4; l++)
        w[l] = u[l] + u[l + 4];
    return (w[0] + w[2]) + (w[1] + w[3]);
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

#endif
