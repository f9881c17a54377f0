/*
 * segment.c - sealed segment files (SPEC.md section 5): writer and reader.
 *
 * Layout: 64-byte header | sections, each starting 64-byte aligned and
 * zero-padded | section table (32 bytes an entry) | 32-byte footer.
 *
 * Invariants: the writer produces a file under NAME.tmp and renames it only
 * after fsync ([R-ATOMIC]); the same calls give the same bytes
 * ([R-SEG-DETERMINISTIC]: no timestamps, no uninitialised padding).  The
 * reader trusts no offset or length before checking it against the file size
 * ([R-SEG-BOUNDS]) and reads only the header, table and footer at open
 * ([R-SEG-OPEN]).  A segment with its vectors apart (SPEC.md 5.6.1) is a
 * .vseg without VECTORS but with COLD_REF, and a .vcold holding VECTORS
 * alone: the .vcold is opened with the .vseg (so garbage collection cannot
 * take it from a reader) but mapped and checked only when VECTORS is first
 * needed, so a search that re-ranks nothing reads no byte of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format_internal.h"

static const unsigned char seg_magic[8] = {0x89, 'V', 'S', 'E', 'G', '\r', '\n', 0x1a};
static const unsigned char end_magic[8] = {'V', 'S', 'E', 'G', 'E', 'N', 'D', '\n'};
#define WBUF (1u << 20)

unsigned vf_seg_read_version_max = VF_SEG_VERSION;

struct vf_seg_writer {
    int dirfd, fd;
    char name[VF_NAME_MAX], tmp[VF_NAME_MAX + 8];
    vf_seg_info info;
    uint64_t off;          /* bytes written so far (file position) */
    vf_section sec[VF_SEG_MAX_SECTIONS];
    size_t nsec;
    int open_section;      /* 1 between begin and end */
    unsigned char *buf;
    size_t nbuf;
    uint32_t footer_crc;   /* CRC-32 of the footer, once finished (COLD_REF) */
};

static int wflush(vf_seg_writer *w, vf_error *err)
{
    int rc = vf_write_all(w->fd, w->buf, w->nbuf, w->tmp, err);
    w->nbuf = 0;
    return rc;
}

/* Buffered write of raw bytes at the current position. */
static int wput(vf_seg_writer *w, const void *data, size_t len, vf_error *err)
{
    const unsigned char *p = data;
    while (len > 0) {
        size_t n = WBUF - w->nbuf < len ? WBUF - w->nbuf : len;
        memcpy(w->buf + w->nbuf, p, n);
        w->nbuf += n;
        p += n;
        len -= n;
        w->off += n;
        if (w->nbuf == WBUF) {
            int rc = wflush(w, err);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int wpad(vf_seg_writer *w, vf_error *err)
{
    static const unsigned char zeros[VF_SEG_ALIGN];
    uint64_t pad = VF_ALIGN_UP(w->off, VF_SEG_ALIGN) - w->off;
    return pad ? wput(w, zeros, (size_t)pad, err) : 0;
}

int vf_seg_writer_open(vf_seg_writer **out, int dirfd, const char *name, const vf_seg_info *info, vf_error *err)
{
    if (info->dim == 0 || info->elem != VF_ELEM_F32 || info->metric < 1 || info->metric > 3)
        return vf_fail(err, VF_EARG, "'%s': bad segment parameters", name);
    vf_seg_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->buf = malloc(WBUF))) {
        free(w);
        return vf_fail(err, VF_ENOMEM, "'%s': out of memory", name);
    }
    w->dirfd = dirfd;
    w->info = *info;
    snprintf(w->name, sizeof w->name, "%s", name);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp", name);
    w->fd = vf_create_tmp(dirfd, w->tmp, err);
    if (w->fd < 0) {
        int rc = w->fd;
        free(w->buf);
        free(w);
        return rc;
    }
    /* the header is written last, once the table's place is known */
    static const unsigned char zeros[VF_SEG_HEADER_SIZE];
    int rc = wput(w, zeros, sizeof zeros, err);
    if (rc) {
        vf_seg_writer_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

int vf_seg_writer_begin(vf_seg_writer *w, uint32_t type, uint32_t flags, vf_error *err)
{
    if (w->open_section || w->nsec == VF_SEG_MAX_SECTIONS)
        return vf_fail(err, VF_EARG, "'%s': too many sections or section already open", w->name);
    for (size_t i = 0; i < w->nsec; i++)
        if (w->sec[i].type == type)
            return vf_fail(err, VF_EARG, "'%s': section type %u written twice", w->name, type);
    vf_section *s = &w->sec[w->nsec];
    memset(s, 0, sizeof *s);
    s->type = type;
    s->flags = flags;
    s->offset = w->off; /* always aligned: the previous section ended padded */
    w->open_section = 1;
    return 0;
}

int vf_seg_writer_write(vf_seg_writer *w, const void *data, size_t len, vf_error *err)
{
    vf_section *s = &w->sec[w->nsec];
    s->crc = vf_crc32(s->crc, data, len);
    s->length += len;
    return wput(w, data, len, err);
}

int vf_seg_writer_end(vf_seg_writer *w, vf_error *err)
{
    w->open_section = 0;
    w->nsec++;
    return wpad(w, err);
}

int vf_seg_writer_section(vf_seg_writer *w, uint32_t type, uint32_t flags, const void *data, size_t len,
                          vf_error *err)
{
    int rc = vf_seg_writer_begin(w, type, flags, err);
    if (rc == 0)
        rc = vf_seg_writer_write(w, data, len, err);
    if (rc == 0)
        rc = vf_seg_writer_end(w, err);
    return rc;
}

static void encode_header(unsigned char h[VF_SEG_HEADER_SIZE], const vf_seg_info *info, uint64_t table_off,
                          uint32_t nsec)
{
    memset(h, 0, VF_SEG_HEADER_SIZE);
    memcpy(h, seg_magic, 8);
    /* the lowest version that reads the file, in both fields: a segment with
       its vectors keeps the version-1 bytes every reader reads [R-VERSION] */
    uint16_t v = info->flags & (VF_SEG_FLAG_APART | VF_SEG_FLAG_COLD) ? 2 : 1;
    vf_put16(h + 8, v);  /* version needed to read */
    vf_put16(h + 10, v); /* version that wrote it */
    vf_put32(h + 12, VF_SEG_HEADER_SIZE);
    vf_put32(h + 16, info->dim);
    vf_put16(h + 20, (uint16_t)info->elem);
    vf_put16(h + 22, (uint16_t)info->metric);
    vf_put64(h + 24, info->rows);
    vf_put32(h + 32, info->shard);
    vf_put32(h + 36, info->flags);
    vf_put64(h + 40, table_off);
    vf_put32(h + 48, nsec);
    vf_put32(h + 60, vf_crc32(0, h, 60));
}

static int writer_finish(vf_seg_writer *w, uint64_t *bytes, uint32_t *footer_crc, vf_error *err);

int vf_seg_writer_finish(vf_seg_writer *w, uint64_t *bytes, vf_error *err)
{
    return writer_finish(w, bytes, NULL, err);
}

int vf_seg_write_cold(int dirfd, const char *name, const vf_seg_info *info, const void *vecs, vf_cold_ref *ref,
                      vf_error *err)
{
    vf_seg_info ci = *info;
    ci.flags |= VF_SEG_FLAG_COLD;
    vf_seg_writer *w;
    int rc = vf_seg_writer_open(&w, dirfd, name, &ci, err);
    if (rc)
        return rc;
    rc = vf_seg_writer_section(w, VF_SEC_VECTORS, VF_SECTION_REQUIRED, vecs, (size_t)(info->rows * info->dim * 4),
                               err);
    if (rc) {
        vf_seg_writer_abort(w);
        return rc;
    }
    return writer_finish(w, &ref->size, &ref->footer_crc, err);
}

int vf_seg_writer_cold_ref(vf_seg_writer *w, const vf_cold_ref *ref, vf_error *err)
{
    unsigned char b[VF_COLD_REF_SIZE] = {0};
    vf_put64(b, ref->size);
    vf_put32(b + 8, ref->footer_crc);
    w->info.flags |= VF_SEG_FLAG_APART;
    return vf_seg_writer_section(w, VF_SEC_COLD_REF, VF_SECTION_REQUIRED, b, sizeof b, err);
}

static int writer_finish(vf_seg_writer *w, uint64_t *bytes, uint32_t *footer_crc, vf_error *err)
{
    int rc = 0;
    if (w->open_section)
        rc = vf_fail(err, VF_EARG, "'%s': section left open", w->name);
    uint64_t table_off = w->off;
    unsigned char ent[VF_SEG_ENTRY_SIZE], hdr[VF_SEG_HEADER_SIZE], foot[VF_SEG_FOOTER_SIZE];
    encode_header(hdr, &w->info, table_off, (uint32_t)w->nsec);
    uint32_t crc = vf_crc32(0, hdr, sizeof hdr);
    for (size_t i = 0; rc == 0 && i < w->nsec; i++) {
        const vf_section *s = &w->sec[i];
        memset(ent, 0, sizeof ent);
        vf_put32(ent, s->type);
        vf_put32(ent + 4, s->flags);
        vf_put64(ent + 8, s->offset);
        vf_put64(ent + 16, s->length);
        vf_put32(ent + 24, s->crc);
        vf_put32(ent + 28, s->param);
        crc = vf_crc32(crc, ent, sizeof ent);
        rc = wput(w, ent, sizeof ent, err);
    }
    uint64_t size = w->off + VF_SEG_FOOTER_SIZE;
    memset(foot, 0, sizeof foot);
    vf_put64(foot, table_off);
    vf_put64(foot + 8, size);
    vf_put32(foot + 16, crc);
    memcpy(foot + 24, end_magic, 8);
    w->footer_crc = vf_crc32(0, foot, sizeof foot);
    if (rc == 0)
        rc = wput(w, foot, sizeof foot, err);
    if (rc == 0)
        rc = wflush(w, err);
    if (rc == 0 && pwrite(w->fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr)
        rc = vf_fail(err, VF_EIO, "'%s': write failed: %s", w->tmp, strerror(errno));
    if (rc == 0 && fsync(w->fd) != 0)
        rc = vf_fail(err, VF_EIO, "'%s': fsync failed: %s", w->tmp, strerror(errno));
    if (rc == 0 && renameat(w->dirfd, w->tmp, w->dirfd, w->name) != 0)
        rc = vf_fail(err, VF_EIO, "'%s': rename failed: %s", w->name, strerror(errno));
    if (rc == 0)
        rc = vf_fsync_dir(w->dirfd, err);
    if (rc) {
        vf_seg_writer_abort(w);
        return rc;
    }
    if (bytes)
        *bytes = size;
    if (footer_crc)
        *footer_crc = w->footer_crc;
    close(w->fd);
    free(w->buf);
    free(w);
    return 0;
}

void vf_seg_writer_abort(vf_seg_writer *w)
{
    if (!w)
        return;
    close(w->fd);
    unlinkat(w->dirfd, w->tmp, 0);
    free(w->buf);
    free(w);
}

/* ---- reader ------------------------------------------------------------ */

struct vf_seg {
    const unsigned char *map;
    uint64_t size;
    vf_seg_info info;
    vf_section *sec;
    size_t nsec;
    /* vectors apart: the .vcold, open from vf_seg_open, mapped on first use */
    vf_cold_ref ref;
    int cold_fd;                       /* -1 once mapped (or when none) */
    char cold_name[4096];              /* for messages, and as it was opened */
    pthread_mutex_t mu;                /* serializes the first mapping */
    _Atomic(const float *) cold_vecs;  /* published once mapped and checked */
    const unsigned char *cold_map;
    uint64_t cold_size;
    uint32_t cold_crc;                 /* its VECTORS section's CRC, for verification */
};

/* The types this version defines: the FLAT sections and the index ranges
   (16..63), whose contents lib/ checks when it opens the index. */
static int known_type(uint32_t t)
{
    return (t >= VF_SEC_VECTORS && t <= VF_SEC_COLD_REF) || (t >= 16 && t <= 63);
}

/* FLAT layout rules: which sections must exist and how long each is. */
static int check_flat(vf_seg *s, const char *name, vf_error *err)
{
    int apart = (s->info.flags & VF_SEG_FLAG_APART) != 0;
    if (s->info.flags & VF_SEG_FLAG_COLD) /* a .vcold is read through its .vseg */
        return vf_fail(err, VF_ECORRUPT, "'%s': a cold file (vectors apart), not a segment", name);
    if (apart) {
        /* 5.6.1: COLD_REF in VECTORS' place, and NORMS, which a search needs
           without touching the cold file */
        uint64_t len;
        const unsigned char *r = vf_seg_section(s, VF_SEC_COLD_REF, &len);
        if (!r || len != VF_COLD_REF_SIZE)
            return vf_fail(err, VF_ECORRUPT, "'%s': vectors apart without a %d-byte cold reference", name,
                           VF_COLD_REF_SIZE);
        for (size_t i = 12; i < VF_COLD_REF_SIZE; i++)
            if (r[i])
                return vf_fail(err, VF_ECORRUPT, "'%s': reserved bytes of the cold reference are not zero", name);
        s->ref.size = vf_get64(r);
        s->ref.footer_crc = vf_get32(r + 8);
        if (vf_seg_section(s, VF_SEC_VECTORS, NULL))
            return vf_fail(err, VF_ECORRUPT, "'%s': vectors apart, yet a vectors section", name);
        if (!vf_seg_section(s, VF_SEC_NORMS, NULL))
            return vf_fail(err, VF_ECORRUPT, "'%s': vectors apart without a norms section", name);
    } else if (vf_seg_section(s, VF_SEC_COLD_REF, NULL))
        return vf_fail(err, VF_ECORRUPT, "'%s': a cold reference without the vectors-apart flag", name);
    struct { uint32_t type; uint64_t per_row; int needed; } rule[] = {
        {VF_SEC_VECTORS, (uint64_t)s->info.dim * 4, !apart},
        {VF_SEC_IDS, 8, 1},
        {VF_SEC_LSNS, 8, 1},
        {VF_SEC_NORMS, 4, 0},
        {VF_SEC_KEYS, 8, (s->info.flags & VF_SEG_FLAG_KEYS) != 0},
        {VF_SEC_ID_ORDER, 4, 0},
    };
    for (size_t i = 0; i < sizeof rule / sizeof rule[0]; i++) {
        uint64_t len;
        const void *p = vf_seg_section(s, rule[i].type, &len);
        if (!p && rule[i].needed)
            return vf_fail(err, VF_ECORRUPT, "'%s': section %u is missing", name, rule[i].type);
        if (p && s->info.rows > UINT64_MAX / rule[i].per_row)
            return vf_fail(err, VF_ECORRUPT, "'%s': %llu rows cannot fit in the file", name,
                           (unsigned long long)s->info.rows);
        if (p && len != s->info.rows * rule[i].per_row)
            return vf_fail(err, VF_ECORRUPT, "'%s': section %u has length %llu, expected %llu", name, rule[i].type,
                           (unsigned long long)len, (unsigned long long)(s->info.rows * rule[i].per_row));
    }
    if (!(s->info.flags & VF_SEG_FLAG_KEYS) && vf_seg_section(s, VF_SEC_KEYS, NULL))
        return vf_fail(err, VF_ECORRUPT, "'%s': keys section without the keys flag", name);
    return 0;
}

/* Header, table and footer of the mapping s->map (a .vseg, or with cold a
   .vcold), each checked against the file size. */
static int seg_check(vf_seg *s, const char *name, int cold, vf_error *err)
{
    const unsigned char *h = s->map;
    if (s->size < VF_SEG_HEADER_SIZE + VF_SEG_FOOTER_SIZE || memcmp(h, seg_magic, 8) != 0)
        return vf_fail(err, VF_ECORRUPT, "'%s': not a vecseg segment (bad magic)", name);
    if (vf_get32(h + 60) != vf_crc32(0, h, 60))
        return vf_fail(err, VF_ECORRUPT, "'%s': header checksum mismatch", name);
    if (vf_get16(h + 8) > vf_seg_read_version_max) /* [R-VERSION] */
        return vf_fail(err, VF_EVERSION, "'%s': needs reader version %u (this reads %u)", name, vf_get16(h + 8),
                       vf_seg_read_version_max);
    const unsigned char *f = s->map + s->size - VF_SEG_FOOTER_SIZE; /* [R-SEG-TRUNC] */
    if (memcmp(f + 24, end_magic, 8) != 0 || vf_get64(f + 8) != s->size || vf_get32(f + 20) != 0)
        return vf_fail(err, VF_ECORRUPT, "'%s': truncated (footer missing or size mismatch)", name);
    s->info.dim = vf_get32(h + 16);
    s->info.elem = vf_get16(h + 20);
    s->info.metric = vf_get16(h + 22);
    s->info.rows = vf_get64(h + 24);
    s->info.shard = vf_get32(h + 32);
    s->info.flags = vf_get32(h + 36);
    uint64_t table = vf_get64(h + 40);
    uint32_t nsec = vf_get32(h + 48);
    if (vf_get32(h + 12) != VF_SEG_HEADER_SIZE || s->info.dim == 0 || s->info.dim > VF_DIM_MAX ||
        s->info.elem != VF_ELEM_F32 || s->info.metric < 1 || s->info.metric > 3 ||
        (s->info.flags & ~(VF_SEG_FLAG_KEYS | VF_SEG_FLAG_APART | VF_SEG_FLAG_COLD)) ||
        (s->info.flags & VF_SEG_FLAG_APART && s->info.flags & VF_SEG_FLAG_COLD) || vf_get32(h + 52) ||
        vf_get32(h + 56))
        return vf_fail(err, VF_ECORRUPT, "'%s': bad header fields", name);
    /* a version-1 reader must refuse these files: one that calls itself
       version 1 would be misread [R-VERSION] */
    if (s->info.flags & (VF_SEG_FLAG_APART | VF_SEG_FLAG_COLD) && vf_get16(h + 8) < 2)
        return vf_fail(err, VF_ECORRUPT, "'%s': vectors apart in a file of read version %u", name, vf_get16(h + 8));
    /* [R-SEG-BOUNDS] file-provided numbers are only ever compared with what
       remains of the file, never added first: table in [64, size - 32] and
       exactly nsec entries between it and the footer */
    uint64_t end = s->size - VF_SEG_FOOTER_SIZE;
    if (nsec > VF_SEG_MAX_SECTIONS || table != vf_get64(f) || table % VF_SEG_ALIGN || table < VF_SEG_HEADER_SIZE ||
        table > end || end - table != (uint64_t)nsec * VF_SEG_ENTRY_SIZE)
        return vf_fail(err, VF_ECORRUPT, "'%s': section table out of bounds", name);
    uint32_t crc = vf_crc32(0, h, VF_SEG_HEADER_SIZE);
    crc = vf_crc32(crc, s->map + table, (size_t)nsec * VF_SEG_ENTRY_SIZE);
    if (crc != vf_get32(f + 16))
        return vf_fail(err, VF_ECORRUPT, "'%s': header/table checksum mismatch", name);
    s->sec = calloc(nsec ? nsec : 1, sizeof *s->sec);
    if (!s->sec)
        return vf_fail(err, VF_ENOMEM, "out of memory");
    uint64_t prev_end = VF_SEG_HEADER_SIZE;
    for (uint32_t i = 0; i < nsec; i++) {
        const unsigned char *e = s->map + table + (size_t)i * VF_SEG_ENTRY_SIZE;
        vf_section *x = &s->sec[i];
        x->type = vf_get32(e);
        x->flags = vf_get32(e + 4);
        x->offset = vf_get64(e + 8);
        x->length = vf_get64(e + 16);
        x->crc = vf_get32(e + 24);
        x->param = vf_get32(e + 28);
        /* sections are in ascending, non-overlapping order inside [64, table):
           neither the header nor the table nor the footer, nor each other */
        if (x->offset % VF_SEG_ALIGN || x->offset < prev_end || x->offset > table || x->length > table - x->offset)
            return vf_fail(err, VF_ECORRUPT, "'%s': section %u out of bounds", name, x->type);
        prev_end = x->offset + x->length;
        for (uint32_t j = 0; j < i; j++)
            if (s->sec[j].type == x->type)
                return vf_fail(err, VF_ECORRUPT, "'%s': section %u appears twice", name, x->type);
        if (!known_type(x->type) && (x->flags & VF_SECTION_REQUIRED)) /* else skipped [R-SEG-SKIP] */
            return vf_fail(err, VF_EVERSION, "'%s': required section %u is unknown to this reader", name, x->type);
        s->nsec++;
    }
    return cold ? 0 : check_flat(s, name, err);
}

/* [R-COLD-READ] Opens the .vcold of s (named name, opened as it was): a regular file,
   never through a link unless the .vseg was a path the user named, whose
   size is the one COLD_REF gives.  Read nothing yet. */
static int cold_open(vf_seg *s, int dirfd, const char *name, int follow, vf_error *err)
{
    if (vf_cold_name(s->cold_name, sizeof s->cold_name, name))
        return vf_fail(err, VF_ECORRUPT, "'%s': vectors apart, but the name does not end in .vseg", name);
    struct stat st;
    int fd = vf_open_in(dirfd, s->cold_name, O_RDONLY, follow, &st, err);
    if (fd == VF_ENOENT) /* in a collection the caller tells garbage collection from damage */
        return vf_fail(err, follow ? VF_ECORRUPT : VF_ENOENT, "'%s': missing (the vectors of '%s')", s->cold_name,
                       name);
    if (fd < 0)
        return fd;
    s->cold_fd = fd;
    if ((uint64_t)st.st_size != s->ref.size)
        return vf_fail(err, VF_ECORRUPT, "'%s': %lld bytes, but '%s' pairs it with %llu", s->cold_name,
                       (long long)st.st_size, name, (unsigned long long)s->ref.size);
    return 0;
}

/* Maps the .vcold and checks it against the .vseg: COLD_REF's footer CRC,
   then header, table and footer as for any segment, the header equal to the
   .vseg's but for the flags, and one VECTORS section of rows*dim*4 bytes.
   Called once, under s->mu. */
static int cold_map(vf_seg *s, vf_error *err)
{
    const char *cn = s->cold_name;
    struct stat st;
    if (s->cold_fd < 0)
        return vf_fail(err, VF_EIO, "'%s': not open", cn);
    if (fstat(s->cold_fd, &st) != 0 || (uint64_t)st.st_size != s->ref.size)
        return vf_fail(err, VF_ECORRUPT, "'%s': its size changed", cn);
    if (s->ref.size < VF_SEG_HEADER_SIZE + VF_SEG_FOOTER_SIZE)
        return vf_fail(err, VF_ECORRUPT, "'%s': truncated (%llu bytes)", cn, (unsigned long long)s->ref.size);
    void *map = mmap(NULL, (size_t)s->ref.size, PROT_READ, MAP_SHARED, s->cold_fd, 0);
    if (map == MAP_FAILED)
        return vf_fail(err, VF_EIO, "'%s': mmap failed: %s", cn, strerror(errno));
    /* a re-ranked row should not read its neighbours ahead */
    madvise(map, (size_t)s->ref.size, MADV_RANDOM);
    vf_seg c;
    memset(&c, 0, sizeof c);
    c.map = map;
    c.size = s->ref.size;
    int rc = 0;
    if (vf_crc32(0, c.map + c.size - VF_SEG_FOOTER_SIZE, VF_SEG_FOOTER_SIZE) != s->ref.footer_crc)
        rc = vf_fail(err, VF_ECORRUPT, "'%s': does not belong to its segment (footer checksum differs)", cn);
    if (rc == 0)
        rc = seg_check(&c, cn, 1, err);
    uint64_t len = 0;
    const void *v = rc == 0 ? vf_seg_section(&c, VF_SEC_VECTORS, &len) : NULL;
    if (rc == 0 && (!(c.info.flags & VF_SEG_FLAG_COLD) ||
                    (c.info.flags & VF_SEG_FLAG_KEYS) != (s->info.flags & VF_SEG_FLAG_KEYS) ||
                    c.info.dim != s->info.dim || c.info.metric != s->info.metric || c.info.rows != s->info.rows ||
                    c.info.shard != s->info.shard))
        rc = vf_fail(err, VF_ECORRUPT, "'%s': its header does not match its segment's", cn);
    if (rc == 0 && (c.nsec != 1 || !v || s->info.rows > UINT64_MAX / 4 / s->info.dim ||
                    len != s->info.rows * s->info.dim * 4))
        rc = vf_fail(err, VF_ECORRUPT, "'%s': holds more or less than the vectors of its rows", cn);
    if (rc == 0) {
        s->cold_crc = c.sec[0].crc;
        s->cold_map = map;
        s->cold_size = c.size;
        close(s->cold_fd);
        s->cold_fd = -1;
        atomic_store_explicit(&s->cold_vecs, (const float *)v, memory_order_release);
    } else
        munmap(map, (size_t)c.size);
    free(c.sec);
    return rc;
}

int vf_seg_vectors(const vf_seg *cs, const float **out, vf_error *err)
{
    vf_seg *s = (vf_seg *)cs; /* the mapping is state a const reader may fill once */
    if (!(s->info.flags & VF_SEG_FLAG_APART)) {
        *out = vf_seg_section(s, VF_SEC_VECTORS, NULL);
        return 0;
    }
    const float *v = atomic_load_explicit(&s->cold_vecs, memory_order_acquire);
    int rc = 0;
    if (!v) {
        pthread_mutex_lock(&s->mu);
        v = atomic_load_explicit(&s->cold_vecs, memory_order_acquire);
        if (!v && (rc = cold_map(s, err)) == 0)
            v = atomic_load_explicit(&s->cold_vecs, memory_order_acquire);
        pthread_mutex_unlock(&s->mu);
    }
    *out = v;
    return rc;
}

uint64_t vf_seg_cold_size(const vf_seg *s) { return s->info.flags & VF_SEG_FLAG_APART ? s->ref.size : 0; }

static int seg_open(vf_seg **out, int dirfd, const char *name, int follow, vf_error *err)
{
    struct stat st;
    int fd = vf_open_in(dirfd, name, O_RDONLY, follow, &st, err);
    if (fd < 0)
        return fd;
    if ((uint64_t)st.st_size < VF_SEG_HEADER_SIZE + VF_SEG_FOOTER_SIZE) {
        close(fd);
        return vf_fail(err, VF_ECORRUPT, "'%s': truncated (%lld bytes)", name, (long long)st.st_size);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return vf_fail(err, VF_EIO, "'%s': mmap failed: %s", name, strerror(errno));
    vf_seg *s = calloc(1, sizeof *s);
    if (!s) {
        munmap(map, (size_t)st.st_size);
        return vf_fail(err, VF_ENOMEM, "out of memory");
    }
    s->map = map;
    s->size = (uint64_t)st.st_size;
    s->cold_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    int rc = seg_check(s, name, 0, err);
    if (rc == 0 && (s->info.flags & VF_SEG_FLAG_APART))
        rc = cold_open(s, dirfd, name, follow, err);
    if (rc) {
        vf_seg_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int vf_seg_open(vf_seg **s, int dirfd, const char *name, vf_error *err)
{
    return seg_open(s, dirfd, name, 0, err);
}

int vf_seg_open_path(vf_seg **s, const char *path, vf_error *err)
{
    /* a path the user named may be a symbolic link; it must still lead to a
       regular file */
    return seg_open(s, AT_FDCWD, path, 1, err);
}

void vf_seg_close(vf_seg *s)
{
    if (!s)
        return;
    munmap((void *)s->map, (size_t)s->size);
    if (s->cold_map)
        munmap((void *)s->cold_map, (size_t)s->cold_size);
    if (s->cold_fd >= 0)
        close(s->cold_fd);
    pthread_mutex_destroy(&s->mu);
    free(s->sec);
    free(s);
}

const vf_seg_info *vf_seg_get_info(const vf_seg *s) { return &s->info; }
size_t vf_seg_nsections(const vf_seg *s) { return s->nsec; }
const vf_section *vf_seg_section_at(const vf_seg *s, size_t i) { return i < s->nsec ? &s->sec[i] : NULL; }
uint64_t vf_seg_file_size(const vf_seg *s) { return s->size; }

const void *vf_seg_section(const vf_seg *s, uint32_t type, uint64_t *len)
{
    for (size_t i = 0; i < s->nsec; i++)
        if (s->sec[i].type == type) {
            if (len)
                *len = s->sec[i].length;
            return s->map + s->sec[i].offset;
        }
    return NULL;
}

int vf_seg_verify(const vf_seg *s, vf_error *err)
{
    for (size_t i = 0; i < s->nsec; i++)
        if (vf_crc32(0, s->map + s->sec[i].offset, (size_t)s->sec[i].length) != s->sec[i].crc)
            return vf_fail(err, VF_ECORRUPT, "section %u fails its checksum", s->sec[i].type);
    /* [R-SEG-VERIFY] the rows themselves: finite vectors, ids below 2^63,
       LSNs >= 1, ID_ORDER sorted by (id, row) */
    uint64_t rows = s->info.rows, dim = s->info.dim;
    const float *vf;
    int rc = vf_seg_vectors(s, &vf, err);
    if (rc)
        return rc;
    if (s->cold_map && vf_crc32(0, vf, (size_t)(rows * dim * 4)) != s->cold_crc)
        return vf_fail(err, VF_ECORRUPT, "'%s': section %u fails its checksum", s->cold_name, VF_SEC_VECTORS);
    const unsigned char *v = (const unsigned char *)vf, *ids = vf_seg_section(s, VF_SEC_IDS, NULL);
    const unsigned char *lsns = vf_seg_section(s, VF_SEC_LSNS, NULL), *ord = vf_seg_section(s, VF_SEC_ID_ORDER, NULL);
    for (uint64_t r = 0; r < rows; r++) {
        if (!vf_all_finite(v + r * dim * 4, (size_t)dim))
            return vf_fail(err, VF_ECORRUPT, "row %llu has a NaN or infinite value", (unsigned long long)r);
        if (vf_get64(ids + r * 8) > VF_ID_MAX)
            return vf_fail(err, VF_ECORRUPT, "row %llu has id %llu, above 2^63-1", (unsigned long long)r,
                           (unsigned long long)vf_get64(ids + r * 8));
        if (vf_get64(lsns + r * 8) == 0)
            return vf_fail(err, VF_ECORRUPT, "row %llu has lsn 0", (unsigned long long)r);
    }
    for (uint64_t i = 0; ord && i < rows; i++) {
        uint32_t a = vf_get32(ord + i * 4), b = i ? vf_get32(ord + (i - 1) * 4) : 0;
        if (a >= rows || (i && (vf_get64(ids + (uint64_t)b * 8) > vf_get64(ids + (uint64_t)a * 8) ||
                                (vf_get64(ids + (uint64_t)b * 8) == vf_get64(ids + (uint64_t)a * 8) && b >= a))))
            return vf_fail(err, VF_ECORRUPT, "section %u is not in id order at position %llu", VF_SEC_ID_ORDER,
                           (unsigned long long)i);
    }
    return 0;
}
