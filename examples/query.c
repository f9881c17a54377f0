/*
 * query.c - open a vecseg collection and query it, as a program linked with libvecseg.
 *
 *   query COLL [K] <queries
 *
 * reads one query vector per line on standard input (values separated by commas or blanks),
 * searches one consistent snapshot of COLL for the K nearest rows of each (default 10) and
 * prints vec-query's lines: query<TAB>rank<TAB>id<TAB>distance.  Build it with the Makefile
 * beside it (pkg-config, shared or static library); tests/api.bats does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vecseg/vecseg.h>

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: query COLL [K] <queries\n");
        return 64;
    }
    vf_error err;
    vs_snapshot *s;
    if (vs_snapshot_open(&s, argv[1], &err)) {
        fprintf(stderr, "query: %s\n", err.msg);
        return 66;
    }
    uint32_t dim = vs_snapshot_manifest(s)->dim;
    vs_search_opts so = {0};
    so.k = argc == 3 ? strtoul(argv[2], NULL, 10) : 10;
    if (so.k < 1 || so.k > VS_K_MAX) {
        fprintf(stderr, "query: K must be from 1 to %d\n", VS_K_MAX);
        vs_snapshot_close(s);
        return 64;
    }
    float *q = malloc(dim * sizeof *q);
    uint64_t *ids = malloc(so.k * sizeof *ids);
    float *dist = malloc(so.k * sizeof *dist);
    char line[65536];
    int rc = 0;
    for (size_t nq = 0; rc == 0 && q && ids && dist && fgets(line, sizeof line, stdin); nq++) {
        /* one query at a time keeps the example short; vs_search takes a batch as well */
        char *p = line, *end;
        for (uint32_t j = 0; j < dim; j++, p = end) {
            q[j] = strtof(p + strspn(p, ", \t"), &end);
            if (end == p + strspn(p, ", \t")) {
                fprintf(stderr, "query: line %zu: expected %u values\n", nq + 1, dim);
                rc = 65;
                break;
            }
        }
        if (rc == 0 && vs_search(s, q, 1, &so, ids, dist, &err)) {
            fprintf(stderr, "query: %s\n", err.msg);
            rc = 65;
        }
        for (size_t r = 0; rc == 0 && r < so.k && ids[r] != VS_NO_ID; r++)
            printf("%zu\t%zu\t%llu\t%.9g\n", nq, r + 1, (unsigned long long)ids[r], dist[r]);
    }
    free(q);
    free(ids);
    free(dist);
    vs_snapshot_close(s);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "query: write error on standard output\n");
        return 74;
    }
    return rc;
}
