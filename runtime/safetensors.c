#include "runtime/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/json.h"

/* The format's own limit (safetensors rejects larger headers), so a lying length cannot make
 * us allocate gigabytes before looking at a byte of JSON. */
enum { MAX_HEADER = 100 * 1000 * 1000 };

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
    {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8},
};

/* The table's spelling of a dtype (so tensors never point into caller memory), or NULL. */
static const char *dtype_lookup(const char *name, size_t *size) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(name, dtypes[i].name)) {
            *size = dtypes[i].size;
            return dtypes[i].name;
        }
    return NULL;
}

/* Bytes a shape of this dtype needs; -1 when the count overflows 64 bits. */
static int shape_bytes(const int64_t *dims, int rank, size_t esize, uint64_t *out) {
    uint64_t n = esize;
    for (int i = 0; i < rank; i++) {
        uint64_t d = (uint64_t)dims[i];
        if (d && n > UINT64_MAX / d) return -1;
        n *= d;
    }
    *out = n;
    return 0;
}

static void put_shape(moac_strbuf *b, const int64_t *dims, int rank) {
    moac_strbuf_putc(b, '[');
    for (int i = 0; i < rank; i++) moac_strbuf_printf(b, "%s%" PRId64, i ? ", " : "", dims[i]);
    moac_strbuf_putc(b, ']');
}

/* ---- writing ---- */

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first name used twice, or NULL. */
static const char *find_duplicate(const char **names, int n) {
    qsort(names, (size_t)n, sizeof *names, name_cmp);
    for (int i = 1; i < n; i++)
        if (!strcmp(names[i - 1], names[i])) return names[i];
    return NULL;
}

static int valid_text(const char *s) { return s && moac_utf8_check(s, strlen(s)) == strlen(s); }

/* Checks what the caller gave before touching the disk: a bad tensor is a bug upstream, and
 * the file it would make could not be read back. */
static int check_tensors(const char *path, const moac_st_tensor *t, int n, const moac_st_meta *meta, int nmeta,
                         moac_diag *d) {
    if (n < 0 || nmeta < 0) {
        moac_diag_file_error(d, path, "cannot write %d tensors and %d metadata entries", n, nmeta);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        size_t esize;
        uint64_t need = 0;
        if (!valid_text(t[i].name) || !strcmp(t[i].name, "__metadata__")) {
            moac_diag_file_error(d, path, "cannot write tensor %d: its name is missing, not UTF-8, or reserved", i);
            return -1;
        }
        if (!t[i].dtype || !dtype_lookup(t[i].dtype, &esize)) {
            moac_diag_file_error(d, path, "cannot write tensor '%s': unknown dtype '%s'", t[i].name,
                                 t[i].dtype ? t[i].dtype : "(null)");
            return -1;
        }
        int bad_dim = t[i].rank < 0 || t[i].rank > MOAC_ST_MAX_RANK;
        for (int k = 0; !bad_dim && k < t[i].rank; k++) bad_dim = t[i].dims[k] < 0;
        if (bad_dim || shape_bytes(t[i].dims, t[i].rank, esize, &need) || need != t[i].nbytes ||
            (!t[i].data && t[i].nbytes)) {
            moac_strbuf sh;
            moac_strbuf_init(&sh);
            if (bad_dim) moac_strbuf_printf(&sh, "(rank %d)", t[i].rank);
            else put_shape(&sh, t[i].dims, t[i].rank);
            moac_diag_file_error(d, path, "cannot write tensor '%s': shape %s of %s does not match its %zu bytes%s",
                                 t[i].name, moac_strbuf_cstr(&sh), t[i].dtype, t[i].nbytes,
                                 t[i].data ? "" : " (no data)");
            moac_strbuf_free(&sh);
            return -1;
        }
    }
    for (int i = 0; i < nmeta; i++)
        if (!valid_text(meta[i].key) || !valid_text(meta[i].value)) {
            moac_diag_file_error(d, path, "cannot write metadata entry %d: its key or value is missing or not UTF-8",
                                 i);
            return -1;
        }
    const char **names = malloc(sizeof *names * ((size_t)(n > nmeta ? n : nmeta) + 1));
    if (!names) abort();
    const char *dup;
    for (int i = 0; i < n; i++) names[i] = t[i].name;
    if ((dup = find_duplicate(names, n)))
        moac_diag_file_error(d, path, "cannot write: two tensors are named '%s'", dup);
    for (int i = 0; !dup && i < nmeta; i++) names[i] = meta[i].key;
    if (!dup && (dup = find_duplicate(names, nmeta)))
        moac_diag_file_error(d, path, "cannot write: metadata key '%s' is given twice", dup);
    free(names);
    return dup ? -1 : 0;
}

/* The JSON header, padded with spaces to a multiple of 8 so the data starts 8-aligned. */
static void build_header(moac_strbuf *h, const moac_st_tensor *t, int n, const moac_st_meta *meta, int nmeta) {
    moac_strbuf_putc(h, '{');
    if (nmeta) {
        moac_strbuf_puts(h, "\"__metadata__\":{");
        for (int i = 0; i < nmeta; i++) {
            if (i) moac_strbuf_putc(h, ',');
            moac_json_put_string(h, meta[i].key, strlen(meta[i].key));
            moac_strbuf_putc(h, ':');
            moac_json_put_string(h, meta[i].value, strlen(meta[i].value));
        }
        moac_strbuf_putc(h, '}');
    }
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        if (i || nmeta) moac_strbuf_putc(h, ',');
        moac_json_put_string(h, t[i].name, strlen(t[i].name));
        moac_strbuf_printf(h, ":{\"dtype\":\"%s\",\"shape\":[", t[i].dtype);
        for (int k = 0; k < t[i].rank; k++) moac_strbuf_printf(h, "%s%" PRId64, k ? "," : "", t[i].dims[k]);
        moac_strbuf_printf(h, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", offset, offset + t[i].nbytes);
        offset += t[i].nbytes;
    }
    moac_strbuf_putc(h, '}');
    while (h->len % 8) moac_strbuf_putc(h, ' ');
}

static const char *write_hint(int err) {
    switch (err) {
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
        return "free some disk space and try again";
    case EFBIG: return "the file size limit was reached (see ulimit -f)";
    case EACCES:
    case EPERM:
    case EROFS: return "check that the directory is writable";
    case ENOENT:
    case ENOTDIR: return "check that the directory exists";
    case EISDIR: return "the path is a directory; give a file name";
    default: return "check the path and the disk";
    }
}

/* Makes a completed rename durable. Best effort: some file systems cannot fsync a directory,
 * and the file itself is already safely on disk. */
static void sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return;
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int moac_safetensors_write(const char *path, const moac_st_tensor *tensors, int ntensors, const moac_st_meta *meta,
                           int nmeta, moac_diag *d) {
    if (check_tensors(path, tensors, ntensors, meta, nmeta, d)) return -1;
    moac_strbuf header, tmp;
    moac_strbuf_init(&header);
    moac_strbuf_init(&tmp);
    build_header(&header, tensors, ntensors, meta, nmeta);
    moac_strbuf_printf(&tmp, "%s.tmp-%ld", path, (long)getpid());

    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)header.len >> (8 * i));
    const char *step = "creating the temporary file";
    int err = 0, created = 0;
    FILE *f = fopen(tmp.data, "wb");
    if (!f) {
        err = errno;
        goto fail;
    }
    created = 1;
    step = "writing";
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(header.data, 1, header.len, f) == header.len;
    for (int i = 0; ok && i < ntensors; i++)
        ok = !tensors[i].nbytes || fwrite(tensors[i].data, 1, tensors[i].nbytes, f) == tensors[i].nbytes;
    /* Buffered data reaches the disk in fflush or fsync: a full disk shows up in either. */
    if (!ok || fflush(f) || fsync(fileno(f))) {
        err = errno;
        fclose(f);
        goto fail;
    }
    if (fclose(f)) {
        err = errno;
        goto fail;
    }
    step = "renaming the temporary file";
    if (rename(tmp.data, path)) {
        err = errno;
        goto fail;
    }
    sync_parent_dir(path);
    moac_strbuf_free(&header);
    moac_strbuf_free(&tmp);
    return 0;

fail:
    if (created) unlink(tmp.data);
    moac_diag_file_error(d, path, "cannot write (%s while %s); any earlier file there is unchanged; %s",
                         strerror(err ? err : EIO), step, write_hint(err));
    moac_strbuf_free(&header);
    moac_strbuf_free(&tmp);
    return -1;
}

/* ---- reading ---- */

struct moac_safetensors {
    moac_arena arena;      /* the parsed header, names, metadata */
    int n, nmeta;
    moac_st_tensor *tensors; /* in header order */
    const moac_st_tensor **by_name;
    moac_st_meta *meta;
    unsigned char *data;   /* every tensor's bytes, each at a 16-aligned address */
    struct entry *order;   /* the tensors by file offset, for reading them in one pass */
};

void moac_safetensors_free(moac_safetensors *st) {
    if (!st) return;
    free(st->data);
    moac_arena_free(&st->arena);
    free(st);
}

int moac_safetensors_count(const moac_safetensors *st) { return st->n; }
const moac_st_tensor *moac_safetensors_at(const moac_safetensors *st, int i) {
    return i >= 0 && i < st->n ? &st->tensors[i] : NULL;
}

static int tensor_ptr_cmp(const void *a, const void *b) {
    return strcmp((*(const moac_st_tensor *const *)a)->name, (*(const moac_st_tensor *const *)b)->name);
}

const moac_st_tensor *moac_safetensors_find(const moac_safetensors *st, const char *name) {
    moac_st_tensor key = {.name = name};
    const moac_st_tensor *pk = &key;
    const moac_st_tensor **hit = bsearch(&pk, st->by_name, (size_t)st->n, sizeof *st->by_name, tensor_ptr_cmp);
    return hit ? *hit : NULL;
}

int moac_safetensors_meta_count(const moac_safetensors *st) { return st->nmeta; }
const char *moac_safetensors_meta_key(const moac_safetensors *st, int i) {
    return i >= 0 && i < st->nmeta ? st->meta[i].key : NULL;
}

const char *moac_safetensors_meta(const moac_safetensors *st, const char *key) {
    for (int i = 0; i < st->nmeta; i++)
        if (!strcmp(st->meta[i].key, key)) return st->meta[i].value;
    return NULL;
}

/* One tensor as the header describes it, before its bytes are read. */
typedef struct entry {
    moac_st_tensor *t;
    uint64_t begin, end;
} entry;

static int entry_cmp(const void *a, const void *b) {
    const entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* A non-negative integer that fits int64 (shapes and offsets), or -1. */
static int64_t json_count(const moac_json *v) {
    return v && v->type == MOAC_JSON_NUMBER && v->is_int && v->integer >= 0 ? v->integer : -1;
}

static int bad(moac_diag *d, const char *path, const char *name, const char *what) {
    moac_diag_file_error(d, path, "tensor '%s' %s; the file is corrupt or not safetensors", name, what);
    return -1;
}

/* Fills e from one header entry, checking it describes a well-formed tensor. */
static int parse_entry(const char *path, const moac_json *v, entry *e, moac_diag *d) {
    moac_st_tensor *t = e->t;
    const char *name = t->name;
    if (v->type != MOAC_JSON_OBJECT) return bad(d, path, name, "is not an object");
    const moac_json *dt = moac_json_get(v, "dtype"), *sh = moac_json_get(v, "shape");
    const moac_json *off = moac_json_get(v, "data_offsets");
    if (!dt || !sh || !off)
        return bad(d, path, name, !dt ? "has no \"dtype\"" : !sh ? "has no \"shape\"" : "has no \"data_offsets\"");
    size_t esize = 0;
    if (dt->type != MOAC_JSON_STRING) return bad(d, path, name, "has a \"dtype\" that is not a string");
    if (!(t->dtype = dtype_lookup(dt->str, &esize))) {
        moac_diag_file_error(d, path, "tensor '%s' has unknown dtype '%.32s'; moac reads BOOL, U8, I8, F8_E5M2, "
                             "F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64", name, dt->str);
        return -1;
    }
    if (sh->type != MOAC_JSON_ARRAY) return bad(d, path, name, "has a \"shape\" that is not an array");
    if (sh->count > MOAC_ST_MAX_RANK) {
        moac_diag_file_error(d, path, "tensor '%s' has rank %zu; moac reads tensors of rank up to %d", name, sh->count,
                             MOAC_ST_MAX_RANK);
        return -1;
    }
    t->rank = (int)sh->count;
    for (int k = 0; k < t->rank; k++)
        if ((t->dims[k] = json_count(sh->items[k])) < 0)
            return bad(d, path, name, "has a shape entry that is not a non-negative integer");
    int64_t b = off->type == MOAC_JSON_ARRAY && off->count == 2 ? json_count(off->items[0]) : -1;
    int64_t en = b >= 0 ? json_count(off->items[1]) : -1;
    if (b < 0 || en < b) return bad(d, path, name, "has \"data_offsets\" that are not [begin, end] with begin <= end");
    e->begin = (uint64_t)b, e->end = (uint64_t)en;
    uint64_t need;
    if (shape_bytes(t->dims, t->rank, esize, &need) || need != e->end - e->begin) {
        moac_strbuf s;
        moac_strbuf_init(&s);
        put_shape(&s, t->dims, t->rank);
        moac_diag_file_error(d, path, "tensor '%s' has shape %s of %s, which is not the %" PRIu64 " bytes its "
                             "data_offsets [%" PRIu64 ", %" PRIu64 "] hold; the file is corrupt",
                             name, moac_strbuf_cstr(&s), t->dtype, e->end - e->begin, e->begin, e->end);
        moac_strbuf_free(&s);
        return -1;
    }
    t->nbytes = (size_t)need;
    return 0;
}

/* The tensors must tile the data exactly, as the format requires: no byte shared, none unused. */
static int check_layout(const char *path, entry *e, int n, uint64_t datalen, moac_diag *d) {
    qsort(e, (size_t)n, sizeof *e, entry_cmp);
    uint64_t at = 0, hole_end = datalen;
    for (int i = 0; i < n; i++) {
        if (e[i].end > datalen) {
            moac_diag_file_error(d, path, "tensor '%s' has data_offsets [%" PRIu64 ", %" PRIu64 "] past the end of "
                                 "the data (%" PRIu64 " bytes); the file is truncated", e[i].t->name, e[i].begin,
                                 e[i].end, datalen);
            return -1;
        }
        if (e[i].begin < at) {
            moac_diag_file_error(d, path, "tensors '%s' [%" PRIu64 ", %" PRIu64 "] and '%s' [%" PRIu64 ", %" PRIu64 "]"
                                 " overlap; the file is corrupt", e[i - 1].t->name, e[i - 1].begin, e[i - 1].end,
                                 e[i].t->name, e[i].begin, e[i].end);
            return -1;
        }
        if (e[i].begin > at) {
            hole_end = e[i].begin;
            break;
        }
        at = e[i].end;
    }
    if (at != datalen) {
        moac_diag_file_error(d, path, "data bytes [%" PRIu64 ", %" PRIu64 ") belong to no tensor; the file is corrupt "
                             "or not safetensors", at, hole_end);
        return -1;
    }
    return 0;
}

/* Reads the header into st: names, metadata, tensors (with data slots), st->order. */
static int parse_header(moac_safetensors *st, const char *path, const char *text, size_t len, uint64_t datalen,
                        moac_diag *d) {
    moac_json_error jerr;
    moac_json *root = moac_json_parse(&st->arena, text, len, NULL, &jerr);
    if (!root) {
        moac_diag_file_error(d, path, "the header is not valid JSON (%s, at byte %zu of the header); the file is "
                             "corrupt or not safetensors", jerr.msg, jerr.offset);
        return -1;
    }
    if (root->type != MOAC_JSON_OBJECT) {
        moac_diag_file_error(d, path, "the header is a JSON %s, not an object; the file is not safetensors",
                             moac_json_type_name(root->type));
        return -1;
    }
    st->tensors = moac_arena_alloc(&st->arena, (root->count + 1) * sizeof *st->tensors);
    entry *e = moac_arena_alloc(&st->arena, (root->count + 1) * sizeof *e);
    for (size_t i = 0; i < root->count; i++) {
        const moac_json *v = root->items[i];
        if (strlen(v->key) != v->key_len) {
            moac_diag_file_error(d, path, "a tensor or metadata name contains a NUL character; moac cannot use it");
            return -1;
        }
        if (!strcmp(v->key, "__metadata__")) {
            if (v->type != MOAC_JSON_OBJECT) {
                moac_diag_file_error(d, path, "\"__metadata__\" is a JSON %s, not an object of strings",
                                     moac_json_type_name(v->type));
                return -1;
            }
            st->meta = moac_arena_alloc(&st->arena, (v->count + 1) * sizeof *st->meta);
            for (size_t k = 0; k < v->count; k++) {
                const moac_json *m = v->items[k];
                if (m->type != MOAC_JSON_STRING || strlen(m->key) != m->key_len) {
                    moac_diag_file_error(d, path, "metadata '%s' is a %s, not a string; safetensors metadata maps "
                                         "strings to strings", m->key, moac_json_type_name(m->type));
                    return -1;
                }
                st->meta[st->nmeta++] = (moac_st_meta){m->key, m->str};
            }
            continue;
        }
        e[st->n].t = &st->tensors[st->n];
        st->tensors[st->n].name = v->key;
        if (parse_entry(path, v, &e[st->n], d)) return -1;
        st->n++;
    }
    if (check_layout(path, e, st->n, datalen, d)) return -1;
    /* Each tensor gets a 16-aligned slot, so callers may read F32/I64 data in place. */
    size_t total = 16, at = 0;
    for (int i = 0; i < st->n; i++) total += (e[i].t->nbytes + 15) & ~(size_t)15;
    if (!(st->data = malloc(total))) {
        moac_diag_file_error(d, path, "out of memory: the tensors need %zu bytes", total);
        return -1;
    }
    for (int i = 0; i < st->n; i++) {
        e[i].t->data = st->data + at;
        at += (e[i].t->nbytes + 15) & ~(size_t)15;
    }
    st->by_name = moac_arena_alloc(&st->arena, ((size_t)st->n + 1) * sizeof *st->by_name);
    for (int i = 0; i < st->n; i++) st->by_name[i] = &st->tensors[i];
    qsort(st->by_name, (size_t)st->n, sizeof *st->by_name, tensor_ptr_cmp);
    st->order = e; /* sorted by offset: the data is read in one sequential pass */
    return 0;
}

moac_safetensors *moac_safetensors_read(const char *path, moac_diag *d) {
    int errors_before = d->errors;
    /* the bounded reader's checks (regular file, MOAC_LIMIT_CHECKPOINT_BYTES); read in place */
    uint64_t size = 0, hlen = 0;
    char why[512];
    FILE *f = moac_file_open(path, &moac_limits_checkpoint, &size, why, sizeof why);
    if (!f) {
        int missing = errno == ENOENT;
        moac_diag_file_error(d, path, "cannot read: %s%s", why, missing ? " (moac train writes its checkpoint to "
                             "<out>/ckpt.safetensors, runs/<spec name>/ by default)" : "");
        return NULL;
    }
    unsigned char len8[8];
    if (size < 8 || fread(len8, 1, 8, f) != 8) {
        moac_diag_file_error(d, path, "the file is %" PRIu64 " bytes, too short for the 8-byte header length; it is "
                             "truncated or not safetensors", size);
        fclose(f);
        return NULL;
    }
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)len8[i] << (8 * i);
    if (hlen > size - 8) {
        moac_diag_file_error(d, path, "header length %" PRIu64 " is larger than the file; the file is truncated or "
                             "not safetensors", hlen);
        fclose(f);
        return NULL;
    }
    if (hlen > MAX_HEADER) {
        moac_diag_file_error(d, path, "header length %" PRIu64 " is over the format's limit of %d bytes; the file is "
                             "not safetensors", hlen, MAX_HEADER);
        fclose(f);
        return NULL;
    }
    moac_safetensors *st = calloc(1, sizeof *st);
    char *text = malloc((size_t)hlen + 1);
    if (!st || !text) abort();
    moac_arena_init(&st->arena);
    /* Short reads below mean the file changed under us (or a read error): the size was checked. */
    int ok = fread(text, 1, (size_t)hlen, f) == hlen;
    if (ok) ok = !parse_header(st, path, text, (size_t)hlen, size - 8 - hlen, d);
    free(text);
    for (int i = 0; ok && i < st->n; i++) {
        moac_st_tensor *t = st->order[i].t;
        ok = !t->nbytes || fread((void *)t->data, 1, t->nbytes, f) == t->nbytes;
    }
    if (!ok && d->errors == errors_before)
        moac_diag_file_error(d, path, "cannot read: %s", ferror(f) ? strerror(errno) : "the file ended early (was it "
                             "being written?)");
    fclose(f);
    if (!ok) {
        moac_safetensors_free(st);
        return NULL;
    }
    return st;
}
