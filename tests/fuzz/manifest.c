/*
 * manifest - fuzz target: the manifest parser, given a buffer with no NUL after it.
 *
 * The input is manifest text.  When its last line has the form "crc32 XXXXXXXX", the value
 * is fixed up.  The text is copied to end exactly where an inaccessible page begins, so any
 * read past len faults in every build, the plain replay included (an exact-size malloc is
 * caught only by ASan, and not through libc's uninstrumented string functions), and parsed;
 * an accepted manifest
 * must survive vf_manifest_format and a second parse unchanged, and is routed through.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"

/* A copy of data whose last byte sits just before a PROT_NONE page; *map and *maplen are
   what to munmap. */
static uint8_t *copy_at_page_end(const uint8_t *data, size_t size, void **map, size_t *maplen)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), body = (size + page - 1) / page * page;
    if (body == 0)
        body = page;
    *maplen = body + page;
    uint8_t *m = mmap(NULL, *maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || mprotect(m + body, page, PROT_NONE) != 0)
        abort();
    *map = m;
    memcpy(m + body - size, data, size);
    return m + body - size;
}

static void fix_manifest(uint8_t *b, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    if (size < 15 || b[size - 1] != '\n' || (size > 15 && b[size - 16] != '\n') ||
        memcmp(b + size - 15, "crc32 ", 6) != 0)
        return;
    uint32_t crc = vf_crc32(0, b, size - 15);
    for (int i = 0; i < 8; i++)
        b[size - 9 + i] = (uint8_t)hex[(crc >> (28 - 4 * i)) & 15];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *map;
    size_t maplen;
    uint8_t *b = copy_at_page_end(data, size, &map, &maplen);
    fix_manifest(b, size);
    vf_manifest m, m2;
    int rc = vf_manifest_parse(&m, (const char *)b, size, "manifest", NULL);
    munmap(map, maplen);
    if (rc)
        return 0;
    char *t1, *t2;
    size_t n1, n2;
    if (vf_manifest_format(&m, &t1, &n1, NULL))
        abort();
    if (vf_manifest_parse(&m2, t1, n1, "manifest", NULL)) {
        fprintf(stderr, "manifest: the formatted text of an accepted manifest is refused:\n%.*s", (int)n1, t1);
        abort();
    }
    if (vf_manifest_format(&m2, &t2, &n2, NULL))
        abort();
    if (n1 != n2 || memcmp(t1, t2, n1) != 0) {
        fprintf(stderr, "manifest: format and parse do not round-trip:\n%.*s---\n%.*s", (int)n1, t1, (int)n2, t2);
        abort();
    }
    for (uint64_t key = 0; key < 64; key++)
        (void)vs_route_shard(&m, key * 0x9e3779b97f4a7c15ull);
    for (size_t i = 0; i < m.nsealed; i++)
        (void)vf_manifest_serving_node(&m, m.sealed[i].node);
    free(t1);
    free(t2);
    vf_manifest_release(&m);
    vf_manifest_release(&m2);
    return 0;
}
