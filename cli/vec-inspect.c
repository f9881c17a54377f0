/*
 * vec-inspect - dump and verify vecseg files: a collection directory, a
 * sealed segment, a growing log, a tombstone file or a partial result.
 * Read-only, except --repair, which removes what killed writers left behind
 * (format/repair.c) and never a committed byte.
 */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

static const char usage[] =
    "Usage: vec-inspect [OPTIONS] PATH\n"
    "       vec-inspect --repair [-q] COLL\n"
    "       vec-inspect --nodes [-q] COLL\n"
    "Describe PATH: a collection directory (its snapshot: settings, shards,\n"
    "segments, tombstone files), a sealed segment (.vseg: header and section\n"
    "table), a growing log (.log: header and records), a tombstone file (.tomb)\n"
    "or a partial result.  With --repair, remove what killed writers left in\n"
    "collection COLL.  Segment sizes are in KiB, MiB or GiB when standard output\n"
    "is a terminal, in bytes otherwise.\n"
    "\n"
    "  --verify             check every checksum (of every file the collection's\n"
    "                       manifest names); exit 65 at the first damaged file\n"
    "  --rows N             also print the first N rows (id, lsn, vector)\n"
    "  --repair             remove orphan, temporary and uncommitted files and\n"
    "                       torn log tails, one line each; never a committed byte\n"
    "  --nodes              the load per node of collection COLL (TSV: node,\n"
    "                       segments, rows, bytes, cost, a bar of the cost)\n"
    "  -q, --quiet          print nothing; with --verify, only the exit status\n"
    "  -h, --help           this help\n"
    "  -V, --version        versions of the tool, library and format\n"
    "\n"
    "Examples:\n"
    "  vec-inspect coll\n"
    "  vec-inspect --verify coll && echo intact\n"
    "  vec-inspect --rows 3 coll/s-00000001.vseg\n"
    "  vec-inspect --repair coll\n"
    "  vec-inspect --nodes coll\n";

static int verify, quiet;
static uint64_t nrows;

#define OUT(...) do { if (!quiet) printf(__VA_ARGS__); } while (0)

static void print_row(uint64_t id, uint64_t lsn, const float *v, uint32_t dim)
{
    OUT("row id=%" PRIu64 " lsn=%" PRIu64 " [", id, lsn);
    for (uint32_t j = 0; j < dim; j++)
        OUT("%s%.9g", j ? ", " : "", v[j]);
    OUT("]\n");
}


/* Describes (and with --verify checks) an open segment; closes it. */
static void show_seg(vf_seg *s, const char *shown)
{
    vf_error err;
    if (verify && vf_seg_verify(s, &err))
        cli_die(EX_DATAERR, "'%s': %s", shown, err.msg);
    const vf_seg_info *in = vf_seg_get_info(s);
    char sz[32];
    OUT("segment %s\nbytes %s\ndim %u\nelem f32\nmetric %s\nrows %" PRIu64 "\nshard %u\nflags %u\n", shown,
        cli_size(sz, sizeof sz, vf_seg_file_size(s)), in->dim, vf_metric_name((int)in->metric), in->rows, in->shard,
        in->flags);
    for (size_t i = 0; i < vf_seg_nsections(s); i++) {
        const vf_section *x = vf_seg_section_at(s, i);
        OUT("section type=%u name=%s flags=%u offset=%" PRIu64 " length=%" PRIu64 " crc32=%08x\n", x->type,
            vs_section_name(x->type), x->flags, x->offset, x->length, x->crc);
    }
    char ix[512];
    if (vs_index_describe(s, ix, sizeof ix, &err))
        cli_die(EX_DATAERR, "'%s': %s", shown, err.msg);
    OUT("%s\n", ix);
    uint64_t hot, cold;
    vs_seg_memory(s, &hot, &cold);
    if (vf_seg_cold_size(s)) /* vectors apart: hot bytes are this file, cold ones its .vcold */
        OUT("vectors apart cold-file-bytes=%" PRIu64 "\n", vf_seg_cold_size(s));
    OUT("memory hot-bytes=%" PRIu64 " cold-bytes=%" PRIu64 "\n", hot, cold);
    const float *v = NULL; /* in place, or from the .vcold (vectors apart): read only for --rows */
    if (nrows && in->rows && vf_seg_vectors(s, &v, &err))
        cli_die(EX_DATAERR, "'%s': %s", shown, err.msg);
    const uint64_t *ids = vf_seg_section(s, VF_SEC_IDS, NULL), *lsn = vf_seg_section(s, VF_SEC_LSNS, NULL);
    for (uint64_t r = 0; r < nrows && r < in->rows; r++)
        print_row(ids[r], lsn[r], v + r * in->dim, in->dim);
    if (verify)
        OUT("verified %s\n", shown);
    vf_seg_close(s);
}

static void inspect_seg(int dirfd, const char *name, const char *shown)
{
    vf_seg *s;
    vf_error err;
    /* a file the user named may be a symbolic link; a collection's may not */
    if (dirfd == AT_FDCWD ? vf_seg_open_path(&s, name, &err) : vf_seg_open(&s, dirfd, name, &err))
        cli_die_err(&err);
    show_seg(s, shown);
}

/* Reads the records of a mapped log in [start, end); returns the row count
   and unmaps it. */
static uint64_t read_log(vf_log_view v, const char *shown, uint64_t start, uint64_t end, int print)
{
    vf_error err;
    if (print)
        OUT("log %s\nbytes %" PRIu64 "\ndim %u\nshard %u\nflags %u\n", shown, end, v.dim, v.shard, v.flags);
    uint64_t off = start, rows = 0, shown_rows = 0;
    vf_rows r;
    int rc;
    uint64_t at = off;
    while ((rc = vf_log_next(&v, &off, end, &r, &err)) == 1) {
        if (print)
            OUT("record offset=%" PRIu64 " rows=%u lsn=%" PRIu64 "\n", at, r.n, r.lsn);
        at = off;
        for (uint32_t i = 0; print && i < r.n && shown_rows < nrows; i++, shown_rows++)
            print_row(r.ids[i], r.lsn, r.vecs + (size_t)i * v.dim, v.dim);
        rows += r.n;
    }
    if (rc < 0)
        cli_die(EX_DATAERR, "'%s': %s", shown, err.msg);
    if (print)
        OUT("rows %" PRIu64 "\n", rows);
    vf_log_unmap(&v);
    return rows;
}

static uint64_t inspect_log(int dirfd, const char *name, const char *shown, uint64_t start, uint64_t end, int print)
{
    vf_log_view v;
    vf_error err;
    if (vf_log_map(dirfd, name, end, &v, &err))
        cli_die_err(&err);
    return read_log(v, shown, start, end, print);
}

static void inspect_tomb(int dirfd, const char *name, const char *shown)
{
    vf_tomb *t;
    size_t n;
    vf_error err;
    if (vf_tomb_read(dirfd, name, &t, &n, &err))
        cli_die(cli_status(err.code), "'%s': %s", shown, err.msg);
    OUT("tombstones %s\ncount %zu\n", shown, n);
    for (size_t i = 0; i < n && i < nrows; i++)
        OUT("tombstone id=%" PRIu64 " lsn=%" PRIu64 "\n", t[i].id, t[i].lsn);
    free(t);
}

static void inspect_partial(const char *path)
{
    int fd = open(path, O_RDONLY);
    vf_partial_hdr h;
    float *d;
    uint64_t *ids;
    vf_error err;
    if (fd < 0)
        cli_die(EX_NOINPUT, "'%s': cannot open", path);
    if (vf_partial_read_fd(fd, &h, &d, &ids, path, &err))
        cli_die(EX_DATAERR, "%s", err.msg);
    close(fd);
    OUT("partial %s\nmetric %s\nqueries %u\nk %u\ngeneration %" PRIu64 "\n", path, vf_metric_name((int)h.metric), h.nq,
        h.k, h.generation);
    for (uint64_t i = 0; i < nrows && i < h.nq; i++)
        for (uint32_t j = 0; j < h.k; j++)
            if (ids[i * h.k + j] != VS_NO_ID)
                OUT("hit query=%" PRIu64 " rank=%u id=%" PRIu64 " distance=%.9g\n", i, j + 1, ids[i * h.k + j],
                    d[i * h.k + j]);
    free(d);
    free(ids);
}

/* Every setting of the table with the value the tools use, then the keys
   the table does not know (kept and ignored). */
static void print_settings(const vf_manifest *m)
{
    size_t n;
    const vs_setting_def *t = vs_settings_table(&n);
    for (size_t i = 0; i < n; i++) {
        const char *v = vf_manifest_get(m, t[i].key);
        char buf[64];
        uint64_t x;
        if (!v) {
            vs_setting_format(&t[i], t[i].def, buf, sizeof buf);
            OUT("setting %s %s (default)\n", t[i].key, buf);
        } else if (vs_setting_parse(&t[i], v, &x, NULL)) {
            vs_setting_range(&t[i], buf, sizeof buf);
            OUT("setting %s %s (invalid: %s)\n", t[i].key, v, buf);
        } else
            OUT("setting %s %s\n", t[i].key, v);
    }
    for (size_t i = 0; i < m->nsettings; i++)
        if (!vs_setting_find(m->settings[i].key))
            OUT("setting %s %s (unknown, ignored)\n", m->settings[i].key, m->settings[i].value);
}

static void repair_coll(const char *path)
{
    static const char *why[] = {"", "orphan", "temporary", "uncommitted", "torn-tail"};
    vf_coll *c;
    vf_error err;
    if (vf_coll_open(&c, path, &err))
        cli_die_err(&err);
    vf_repair_action *a;
    size_t n;
    int rc = vf_coll_repair(c, &a, &n, &err);
    for (size_t i = 0; i < n; i++) {
        if (a[i].kind == VF_REPAIR_TAIL)
            OUT("truncated %s from=%" PRIu64 " to=%" PRIu64 " reason=%s\n", a[i].file, a[i].from, a[i].to,
                why[a[i].kind]);
        else
            OUT("removed %s bytes=%" PRIu64 " reason=%s\n", a[i].file, a[i].from, why[a[i].kind]);
    }
    free(a);
    vf_coll_close(c);
    if (rc)
        cli_die_err(&err);
    if (!quiet)
        fprintf(stderr, "%s: '%s': %s\n", cli_tool, path, n ? "repaired" : "nothing to repair");
}

/* The node serving a segment placed on node, "-" when none does. */
static const char *node_of(const vf_manifest *m, const char *node)
{
    const char *n = vf_manifest_serving_node(m, node);
    return n[0] ? n : "-";
}

/* --nodes: per node serving segments, its segments, rows, bytes and the
   estimated query cost vec-balance evens (vs_segment_cost), with a bar of
   the cost scaled to the busiest node. */
static void inspect_nodes(const char *path)
{
    vf_coll *c;
    vf_manifest m;
    vf_error err;
    if (vf_coll_open(&c, path, &err) || vf_coll_snapshot(c, &m, &err))
        cli_die_err(&err);
    size_t nseg = m.nsealed + m.ngrowing, nn = 0;
    struct load { const char *node; uint64_t segs, rows, bytes; double cost; } *l = calloc(nseg + 1, sizeof *l);
    if (!l)
        cli_die(EX_OSERR, "out of memory");
    for (size_t i = 0; i < m.nnodes; i++) /* the nodes in the manifest's order, idle ones too */
        l[nn++].node = m.nodes[i];
    for (size_t i = 0; i < nseg; i++) {
        int sealed = i < m.nsealed;
        const char *node = node_of(&m, sealed ? m.sealed[i].node : m.growing[i - m.nsealed].node);
        uint64_t rows = sealed ? m.sealed[i].rows : m.growing[i - m.nsealed].rows;
        uint64_t bytes = sealed ? m.sealed[i].bytes : m.growing[i - m.nsealed].length;
        int type = VS_INDEX_FLAT; /* a growing segment is scanned */
        vf_seg *s;
        if (sealed) {
            char ix[512], name[32];
            if (vs_sealed_open(c, &m, i, &s, &err) || vs_index_describe(s, ix, sizeof ix, &err))
                cli_die_err(&err);
            vf_seg_close(s);
            sscanf(ix, "index %31s", name);
            type = vs_index_type_parse(name);
        }
        size_t k = 0;
        while (k < nn && strcmp(l[k].node, node))
            k++;
        if (k == nn)
            l[nn++].node = node;
        l[k].segs++;
        l[k].rows += rows;
        l[k].bytes += bytes;
        l[k].cost += vs_segment_cost(rows, m.dim, type);
    }
    double max = 0;
    for (size_t k = 0; k < nn; k++)
        max = l[k].cost > max ? l[k].cost : max;
    for (size_t k = 0; k < nn; k++) {
        char sz[32], bar[41];
        int w = max > 0 ? (int)(40 * l[k].cost / max + 0.5) : 0;
        memset(bar, '#', (size_t)w);
        bar[w] = 0;
        OUT("%s\t%" PRIu64 "\t%" PRIu64 "\t%s\t%.0f\t%s\n", l[k].node, l[k].segs, l[k].rows,
            cli_size(sz, sizeof sz, l[k].bytes), l[k].cost, bar);
    }
    free(l);
    vf_manifest_release(&m);
    vf_coll_close(c);
}

static void inspect_coll(const char *path)
{
    vf_coll *c;
    vf_manifest m;
    vf_error err;
    if (vf_coll_open(&c, path, &err) || vf_coll_snapshot(c, &m, &err))
        cli_die_err(&err);
    int dirfd = vf_coll_dirfd(c);
    uint64_t sealed = 0, growing = 0, tombs = 0;
    for (size_t i = 0; i < m.nsealed; i++)
        sealed += m.sealed[i].rows;
    for (size_t i = 0; i < m.ngrowing; i++)
        growing += m.growing[i].rows;
    for (size_t i = 0; i < m.ntombs; i++)
        tombs += m.tombs[i].count;
    OUT("collection %s\ngeneration %" PRIu64 "\ndim %u\nmetric %s\nkeys %s\nrows %" PRIu64 " (sealed %" PRIu64
        ", growing %" PRIu64 ")\ntombstones %" PRIu64 "\nnext-id %" PRIu64 "\n",
        path, m.generation, m.dim, vf_metric_name(m.metric), m.keys ? "yes" : "no", sealed + growing, sealed, growing,
        tombs, m.next_id);
    print_settings(&m);
    for (size_t i = 0; i < m.nshards; i++) {
        uint64_t rows = 0, ns = 0, ng = 0;
        for (size_t j = 0; j < m.nsealed; j++)
            if (m.sealed[j].shard == m.shards[i].id) {
                rows += m.sealed[j].rows;
                ns++;
            }
        for (size_t j = 0; j < m.ngrowing; j++)
            if (m.growing[j].shard == m.shards[i].id) {
                rows += m.growing[j].rows;
                ng++;
            }
        OUT("shard %u depth=%u value=%" PRIu64 " rows=%" PRIu64 " sealed=%" PRIu64 " growing=%" PRIu64 "\n",
            m.shards[i].id, m.shards[i].depth, m.shards[i].value, rows, ns, ng);
    }
    uint64_t hot = 0, cold = 0, unread = 0;
    for (size_t i = 0; i < m.nsealed; i++) {
        char sz[32];
        OUT("sealed %s shard=%u rows=%" PRIu64 " bytes=%s", m.sealed[i].file, m.sealed[i].shard, m.sealed[i].rows,
            cli_size(sz, sizeof sz, m.sealed[i].bytes));
        if (m.sealed[i].cold_bytes) /* its vectors apart, in its .vcold */
            OUT(" cold-bytes=%s", cli_size(sz, sizeof sz, m.sealed[i].cold_bytes));
        OUT(" node=%s", node_of(&m, m.sealed[i].node));
        /* opened as every reader opens it: checked against its manifest line */
        vf_seg *s;
        if (vs_sealed_open(c, &m, i, &s, &err)) {
            if (verify)
                cli_die_err(&err);
            OUT("\n");
            unread++; /* the summary still describes a damaged collection */
            continue;
        }
        /* its index, type and parameters: "index hnsw M=16 ..." becomes "index=hnsw M=16 ...",
           without the index's rows= (the line has the segment's, one key once) */
        char ix[512];
        if (vs_index_describe(s, ix, sizeof ix, &err) == 0) {
            OUT(" index=");
            int first = 1;
            for (char *save = NULL, *w = strtok_r(ix + strlen("index "), " ", &save); w;
                 w = strtok_r(NULL, " ", &save))
                if (strncmp(w, "rows=", 5)) {
                    OUT("%s%s", first ? "" : " ", w);
                    first = 0;
                }
        }
        OUT("\n");
        uint64_t h, k;
        vs_seg_memory(s, &h, &k);
        hot += h;
        cold += k;
        if (verify) {
            int q = quiet;
            quiet = 1;
            show_seg(s, m.sealed[i].file);
            quiet = q;
        } else
            vf_seg_close(s);
    }
    for (size_t i = 0; i < m.ngrowing; i++) {
        const vf_growing_ent *g = &m.growing[i];
        hot += g->length; /* a log is scanned whole */
        OUT("growing %s shard=%u rows=%" PRIu64 " start=%" PRIu64 " length=%" PRIu64 " node=%s index=flat\n", g->file,
            g->shard, g->rows, g->start, g->length, node_of(&m, g->node));
        vf_log_view v;
        if (verify && vs_growing_map(c, &m, i, &v, &err))
            cli_die_err(&err);
        if (verify && read_log(v, g->file, g->start, g->length, 0) != g->rows)
            cli_die(EX_DATAERR, "'%s': row count differs from the manifest", g->file);
    }
    for (size_t i = 0; i < m.ntombs; i++) {
        OUT("tombstones %s count=%" PRIu64 "\n", m.tombs[i].file, m.tombs[i].count);
        if (verify) {
            vf_tomb *t;
            size_t n;
            if (vf_tomb_read(dirfd, m.tombs[i].file, &t, &n, &err))
                cli_die(EX_DATAERR, "%s", err.msg);
            free(t);
            if (n != m.tombs[i].count)
                cli_die(EX_DATAERR, "'%s': the entry count is %zu in the file but %" PRIu64 " in the manifest",
                        m.tombs[i].file, n, m.tombs[i].count);
        }
    }
    /* what a query reads (to keep in memory) and what only its candidates
       do: the sizing of SPEC.md 5.6 (tombstone files are read once, at open) */
    OUT("memory hot-bytes=%" PRIu64 " cold-bytes=%" PRIu64, hot, cold);
    if (unread)
        OUT(" unreadable-segments=%" PRIu64, unread);
    OUT("\n");
    if (verify)
        OUT("verified %zu sealed, %zu growing, %zu tombstone file(s)\n", m.nsealed, m.ngrowing, m.ntombs);
    vf_manifest_release(&m);
    vf_coll_close(c);
}

int main(int argc, char **argv)
{
    cli_init("vec-inspect", argv);
    enum { O_VERIFY = 256, O_ROWS, O_REPAIR, O_NODES };
    int repair = 0, rows_given = 0, nodes = 0;
    static const struct option lo[] = {{"verify", no_argument, 0, O_VERIFY}, {"rows", required_argument, 0, O_ROWS},
                                       {"repair", no_argument, 0, O_REPAIR}, {"nodes", no_argument, 0, O_NODES},
                                       {"quiet", no_argument, 0, 'q'},      {"help", no_argument, 0, 'h'},
                                       {"version", no_argument, 0, 'V'},    {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "qhV", lo, NULL)) != -1) {
        switch (c) {
        case O_VERIFY: verify = 1; break;
        case O_ROWS: nrows = cli_u64("--rows", optarg, 0, UINT64_MAX); rows_given = 1; break;
        case O_REPAIR: repair = 1; break;
        case O_NODES: nodes = 1; break;
        case 'q': quiet = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': cli_version();
        default: cli_usage("bad option");
        }
    }
    if (optind != argc - 1)
        cli_usage(optind >= argc ? "missing PATH" : "too many arguments");
    const char *path = argv[optind];
    if (repair && (verify || rows_given || nodes))
        cli_usage("--repair goes alone (with -q)");
    struct stat st;
    if (stat(path, &st) != 0)
        cli_die(EX_NOINPUT, "'%s': no such file or directory", path);
    if (repair && !S_ISDIR(st.st_mode))
        cli_usage("--repair takes a collection directory, not '%s'", path);
    if (repair) {
        repair_coll(path);
        return 0;
    }
    if (nodes && (verify || rows_given))
        cli_usage("--nodes goes alone (with -q)");
    if (nodes && !S_ISDIR(st.st_mode))
        cli_usage("--nodes takes a collection directory, not '%s'", path);
    if (nodes) {
        inspect_nodes(path);
        return 0;
    }
    if (S_ISDIR(st.st_mode)) {
        inspect_coll(path);
        return 0;
    }
    /* a FIFO or device would block or never end: files are inspected by name */
    if (!S_ISREG(st.st_mode))
        cli_die(EX_DATAERR, "'%s': not a regular file or a directory", path);
    unsigned char magic[8] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0 || read(fd, magic, 8) != 8)
        cli_die(EX_DATAERR, "'%s': too short to be a vecseg file", path);
    close(fd);
    if (!memcmp(magic + 1, "VSEG", 4))
        inspect_seg(AT_FDCWD, path, path);
    else if (!memcmp(magic + 1, "VLOG", 4))
        inspect_log(AT_FDCWD, path, path, VF_LOG_HEADER_SIZE, (uint64_t)st.st_size, 1);
    else if (!memcmp(magic + 1, "VTMB", 4))
        inspect_tomb(AT_FDCWD, path, path);
    else if (!memcmp(magic + 1, "VPRT", 4))
        inspect_partial(path);
    else
        cli_die(EX_DATAERR, "'%s': not a vecseg file (unknown magic)", path);
    return 0;
}
