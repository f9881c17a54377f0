/*
 * ingest_search.c - a C program that knows vecseg only through its installed public header:
 * tests/api.bats builds it against `make install` output (no -I into the source tree) and
 * links the installed libvecseg.a.  It creates the collection COLL, ingests four rows in one
 * transaction, searches one query and prints "id distance" per hit, then shows the error
 * record of a failing call.  Usage: ingest_search COLL
 */
#include <stdio.h>
#include <string.h>

#include <vecseg/vecseg.h>

static int fail(const char *what, const vf_error *err)
{
    fprintf(stderr, "ingest_search: %s: %s (%s)\n", what, err->msg, vf_code_str(err->code));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: ingest_search COLL\n");
        return 64;
    }
    /* the header and the library linked agree */
    if (strcmp(vs_version(), VS_VERSION_STRING) != 0 || vs_version_number() != VS_VERSION_NUMBER) {
        fprintf(stderr, "ingest_search: header %s, library %s\n", VS_VERSION_STRING, vs_version());
        return 1;
    }
    static const float rows[4 * 3] = {0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3};
    static const uint64_t ids[4] = {10, 11, 12, 13};
    vf_error err;
    vs_ingest_opts o = {0};
    o.dim = 3;
    o.metric = VF_METRIC_L2;
    o.create = 1;
    vs_ingest *h;
    if (vs_ingest_open(&h, argv[1], &o, &err))
        return fail("open", &err);
    if (vs_ingest_add(h, 4, rows, ids, NULL, "rows", 1, &err)) {
        vs_ingest_abort(h);
        return fail("add", &err);
    }
    vs_ingest_stats st;
    if (vs_ingest_commit(h, &st, &err))
        return fail("commit", &err);

    vs_snapshot *s;
    if (vs_snapshot_open(&s, argv[1], &err))
        return fail("snapshot", &err);
    const float q[3] = {0.9f, 0.1f, 0};
    uint64_t hit[5];
    float dist[5];
    vs_search_opts so = {0};
    so.k = 5; /* more than the rows: the last hit is missing */
    if (vs_search(s, q, 1, &so, hit, dist, &err))
        return fail("search", &err);
    printf("rows %llu, dim %u\n", (unsigned long long)vs_snapshot_rows(s), vs_snapshot_manifest(s)->dim);
    for (int i = 0; i < 5; i++)
        if (hit[i] == VS_NO_ID)
            printf("none %f\n", dist[i]);
        else
            printf("%llu %.4f\n", (unsigned long long)hit[i], dist[i]);
    vs_snapshot_close(s);

    /* errors: a code, a message naming the subject, and vf_error may be NULL */
    if (vs_snapshot_open(&s, "no-such-collection", &err) != VF_ENOENT || err.code != VF_ENOENT)
        return fail("a missing collection", &err);
    printf("%s: %s\n", vf_code_str(err.code), err.msg);
    return vs_snapshot_open(&s, "no-such-collection", NULL) == VF_ENOENT ? 0 : 1;
}
