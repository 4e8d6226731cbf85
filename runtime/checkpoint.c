#include "runtime/checkpoint.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/safetensors.h"
#include "support/readfile.h"

static const char *const layout_names[] = {"joined", "separate"}; /* moac_synth_layout order */

void moac_ckpt_synthetic_name(char *buf, size_t n, int pairs, moac_synth_layout layout) {
    snprintf(buf, n, "synthetic(pairs = %d, layout = %s)", pairs, layout_names[layout]);
}

/* The spec's root file, so a checkpoint says what it is a checkpoint of. */
static char *spec_text(const moac_spec *spec) { return spec->src ? (char *)spec->src->text : ""; }

/* ---- writing ---- */

enum { MAX_META = 24 };

typedef struct meta_list {
    moac_st_meta m[MAX_META];
    int n;
    char num[MAX_META][32]; /* room for the numbers' text */
} meta_list;

static void put(meta_list *l, const char *key, const char *value) {
    l->m[l->n++] = (moac_st_meta){key, value};
}

static void put_u64(meta_list *l, const char *key, uint64_t v) {
    snprintf(l->num[l->n], sizeof l->num[0], "%" PRIu64, v);
    put(l, key, l->num[l->n]);
}

int moac_checkpoint_save(const char *path, const moac_spec *spec, const moac_state *s, const moac_dataset *ds,
                         uint64_t seed, uint64_t total, moac_diag *d) {
    int n = 3 * s->nparams;
    moac_st_tensor *t = calloc((size_t)n, sizeof *t);
    char **names = calloc((size_t)n, sizeof *names);
    if (!t || !names) abort();
    const float *sections[3] = {s->w, s->m, s->v};
    const char *prefixes[3] = {"", "adam.m.", "adam.v."};
    for (int k = 0; k < 3; k++)
        for (int p = 0; p < s->nparams; p++) {
            const moac_param *pa = &s->params[p];
            int i = k * s->nparams + p;
            size_t len = strlen(prefixes[k]) + strlen(pa->name) + 1;
            names[i] = malloc(len);
            if (!names[i]) abort();
            snprintf(names[i], len, "%s%s", prefixes[k], pa->name);
            t[i].name = names[i];
            t[i].dtype = "F32";
            t[i].rank = pa->rank;
            for (int r = 0; r < pa->rank; r++) t[i].dims[r] = pa->dims[r];
            t[i].data = sections[k] + pa->offset;
            t[i].nbytes = pa->numel * sizeof(float);
        }
    meta_list l = {.n = 0};
    char chars[513] = "", split[40];
    put(&l, "format", MOAC_CHECKPOINT_FORMAT);
    put(&l, "model", spec->name);
    put_u64(&l, "step", s->step);
    put_u64(&l, "steps", total);
    put_u64(&l, "seed", seed);
    put_u64(&l, "vocab", (uint64_t)ds->vocab);
    if (ds->kind == MOAC_DATA_SYNTHETIC) {
        put(&l, "data", "synthetic");
        put_u64(&l, "synthetic_pairs", (uint64_t)ds->pairs);
        put(&l, "synthetic_layout", layout_names[ds->layout]);
    } else if (ds->kind == MOAC_DATA_TOKENS) {
        put(&l, "data", "tokens");
        put(&l, "token_dtype", moac_token_dtype_name(ds->token_bytes));
        put(&l, "data_path", ds->given ? ds->given : ds->path);
        put(&l, "data_abspath", ds->abspath ? ds->abspath : ds->path);
        put_u64(&l, "data_bytes", ds->bytes);
        put(&l, "data_sha256", ds->sha256);
        if (ds->map[1]) {
            put(&l, "val_path", ds->val_given);
            put(&l, "val_abspath", ds->val_abspath);
            put_u64(&l, "val_bytes", ds->val_bytes);
            put(&l, "val_sha256", ds->val_sha256);
        } else {
            snprintf(split, sizeof split, "%.17g", ds->split);
            put(&l, "split", split);
        }
        put_u64(&l, "train_tokens", ds->ntrain);
        put_u64(&l, "val_tokens", ds->ntokens - ds->ntrain);
    } else {
        put(&l, "data", "text");
        put(&l, "tokenizer", ds->kind == MOAC_DATA_CHAR ? "char" : "byte");
        if (ds->kind == MOAC_DATA_CHAR) {
            for (int i = 0; i < ds->vocab; i++) snprintf(chars + 2 * i, 3, "%02x", ds->chars[i]);
            put(&l, "vocab_chars", chars);
        }
        put(&l, "data_path", ds->given ? ds->given : ds->path);
        put(&l, "data_abspath", ds->abspath ? ds->abspath : ds->path);
        put_u64(&l, "data_bytes", ds->bytes);
        put(&l, "data_sha256", ds->sha256);
        snprintf(split, sizeof split, "%.17g", ds->split);
        put(&l, "split", split);
        put_u64(&l, "train_tokens", ds->ntrain);
        put_u64(&l, "val_tokens", ds->ntokens - ds->ntrain);
    }
    put(&l, "spec", spec_text(spec));
    int rc = moac_safetensors_write(path, t, n, l.m, l.n, d);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(t);
    return rc;
}

/* ---- reading the metadata: every field present, well-formed, within its limits ---- */

/* The fields of each format (and kind of data); nothing else may be there. */
static const char *const v1_fields[] = {"format", "model", "step", "steps", "seed", "data", "vocab_chars", "spec", NULL};
static const char *const v2_fields[] = {"format", "model", "step", "steps", "seed", "vocab", "data", "spec", NULL};
static const char *const v2_synthetic[] = {"synthetic_pairs", "synthetic_layout", NULL};
static const char *const v2_text[] = {"tokenizer", "data_path", "data_abspath", "data_bytes", "data_sha256",
                                      "split", "train_tokens", "val_tokens", NULL};
static const char *const v2_char[] = {"vocab_chars", NULL};
static const char *const v2_tokens[] = {"token_dtype", "data_path", "data_abspath", "data_bytes", "data_sha256",
                                        "train_tokens", "val_tokens", NULL};
static const char *const v2_tokens_split[] = {"split", NULL};                        /* one file, split */
static const char *const v2_tokens_val[] = {"val_path", "val_abspath", "val_bytes", "val_sha256", NULL}; /* two */

static int listed(const char *const *list, const char *key) {
    for (; list && *list; list++)
        if (!strcmp(*list, key)) return 1;
    return 0;
}

typedef struct meta_reader {
    const moac_safetensors *st;
    const char *path;
    moac_diag *d;
} meta_reader;

static int field_error(const meta_reader *r, const char *key, const char *value, const char *want) {
    moac_diag_file_error(r->d, r->path, "metadata field '%s' is '%.60s%s', not %s; the checkpoint is damaged or was "
                         "edited", key, value, strlen(value) > 60 ? "..." : "", want);
    return -1;
}

/* A whole number written as moac writes it: decimal digits only, no sign, no leading zero, no
 * exponent, from lo to hi. */
static int get_u64(const meta_reader *r, const char *key, uint64_t lo, uint64_t hi, uint64_t *out) {
    const char *v = moac_safetensors_meta(r->st, key);
    *out = 0;
    size_t n = strlen(v);
    int ok = n > 0 && n <= 19 && !(n > 1 && v[0] == '0');
    for (size_t i = 0; ok && i < n; i++) ok = v[i] >= '0' && v[i] <= '9';
    uint64_t x = ok ? strtoull(v, NULL, 10) : 0;
    if (!ok || x < lo || x > hi) {
        char want[96];
        snprintf(want, sizeof want, "a whole number from %" PRIu64 " to %" PRIu64, lo, hi);
        return field_error(r, key, v, want);
    }
    *out = x;
    return 0;
}

static int get_choice(const meta_reader *r, const char *key, const char *const *choices, const char *want, int *out) {
    const char *v = moac_safetensors_meta(r->st, key);
    for (int i = 0; choices[i]; i++)
        if (!strcmp(v, choices[i])) {
            *out = i;
            return 0;
        }
    *out = 0;
    return field_error(r, key, v, want);
}

/* Text of at most max bytes; when absolute, starting with '/'. */
static int get_text(const meta_reader *r, const char *key, int absolute, char *out, size_t max) {
    const char *v = moac_safetensors_meta(r->st, key);
    size_t n = strlen(v);
    out[0] = 0;
    if (!n || n >= max || (absolute && v[0] != '/'))
        return field_error(r, key, v, absolute ? "an absolute path" : n ? "a name of reasonable length" : "a name");
    memcpy(out, v, n + 1);
    return 0;
}

static int is_hex_lower(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

static int get_sha256(const meta_reader *r, const char *key, char out[65]) {
    const char *v = moac_safetensors_meta(r->st, key);
    int ok = strlen(v) == 64;
    for (int i = 0; ok && i < 64; i++) ok = is_hex_lower(v[i]);
    out[0] = 0;
    if (!ok) return field_error(r, key, v, "64 lowercase hex digits (a SHA-256)");
    memcpy(out, v, 65);
    return 0;
}

/* The character table: two lowercase hex digits per byte, strictly ascending (so no byte twice),
 * as many as allowed (empty only where allow_empty). */
static int get_chars(const meta_reader *r, const char *key, int allow_empty, moac_ckpt_info *info) {
    const char *v = moac_safetensors_meta(r->st, key);
    size_t n = strlen(v);
    int ok = n % 2 == 0 && n <= 512 && (n || allow_empty);
    for (size_t i = 0; ok && i < n; i++) ok = is_hex_lower(v[i]);
    for (size_t i = 0; ok && i < n / 2; i++) {
        unsigned c = (unsigned)strtoul((char[3]){v[2 * i], v[2 * i + 1], 0}, NULL, 16);
        ok = i == 0 || c > info->chars[i - 1];
        info->chars[i] = (unsigned char)c;
    }
    if (!ok) {
        info->nchars = 0;
        return field_error(r, key, v, "the vocabulary as two lowercase hex digits per byte, ascending, each byte once");
    }
    info->nchars = (int)(n / 2);
    return 0;
}

/* A number as %.17g writes it, finite, in (0, 1]. */
static int get_split(const meta_reader *r, const char *key, double *out) {
    const char *v = moac_safetensors_meta(r->st, key);
    char *end;
    double x = *v && *v != ' ' && *v != '+' ? strtod(v, &end) : NAN;
    *out = 0;
    if (!(isfinite(x) && *end == 0 && x > 0 && x <= 1)) return field_error(r, key, v, "a number in (0, 1]");
    *out = x;
    return 0;
}

/* Checks that exactly the fields of this format (and data) are there: those of the lists a, b and
 * c (b and c may be NULL). */
static int check_fields(const meta_reader *r, const char *const *a, const char *const *b, const char *const *c,
                        const char *what) {
    const char *const *lists[3] = {a, b, c};
    for (int k = 0; k < 3; k++)
        for (const char *const *f = lists[k]; f && *f; f++)
            if (!moac_safetensors_meta(r->st, *f)) {
                moac_diag_file_error(r->d, r->path, "lacks metadata field '%s', which a %s has; the checkpoint is "
                                     "damaged or was edited", *f, what);
                return -1;
            }
    for (int i = 0; i < moac_safetensors_meta_count(r->st); i++) {
        const char *key = moac_safetensors_meta_key(r->st, i);
        if (!listed(a, key) && !listed(b, key) && !listed(c, key)) {
            moac_diag_file_error(r->d, r->path, "has metadata field '%.60s', which a %s does not have; the checkpoint "
                                 "is damaged, was edited, or was written by another program", key, what);
            return -1;
        }
    }
    return 0;
}

static int read_meta_v1(const meta_reader *r, moac_ckpt_info *info) {
    static const char *const kinds[] = {"char", "byte", "synthetic", NULL}; /* moac_data_kind order */
    int kind;
    if (check_fields(r, v1_fields, NULL, NULL, MOAC_CHECKPOINT_FORMAT_V1 " checkpoint") ||
        get_choice(r, "data", kinds, "char, byte or synthetic", &kind))
        return -1;
    info->data_kind = (moac_data_kind)kind;
    if (get_chars(r, "vocab_chars", kind != MOAC_DATA_CHAR, info)) return -1;
    if (kind != MOAC_DATA_CHAR && info->nchars)
        return field_error(r, "vocab_chars", moac_safetensors_meta(r->st, "vocab_chars"), "empty (the data is not char)");
    info->vocab = kind == MOAC_DATA_CHAR ? info->nchars : kind == MOAC_DATA_BYTE ? 256 : 0;
    return 0;
}

/* Token files: the training file's record, then the split of it or the validation file's. */
static int read_meta_tokens(const meta_reader *r, moac_ckpt_info *info) {
    static const char *const dtypes[] = {"u16", "u32", NULL};
    info->has_val = moac_safetensors_meta(r->st, "val_path") != NULL;
    int dtype;
    if (check_fields(r, v2_fields, v2_tokens, info->has_val ? v2_tokens_val : v2_tokens_split, info->has_val ?
                     "checkpoint of token files (train and val)" : "checkpoint of a token file (split)") ||
        get_choice(r, "token_dtype", dtypes, "u16 or u32", &dtype) ||
        get_text(r, "data_path", 0, info->data_path, sizeof info->data_path) ||
        get_text(r, "data_abspath", 1, info->data_abspath, sizeof info->data_abspath) ||
        get_u64(r, "data_bytes", 1, MOAC_LIMIT_TOKEN_BYTES, &info->data_bytes) ||
        get_sha256(r, "data_sha256", info->data_sha256) ||
        get_u64(r, "train_tokens", 1, MOAC_LIMIT_TOKEN_BYTES, &info->train_tokens) ||
        get_u64(r, "val_tokens", 1, MOAC_LIMIT_TOKEN_BYTES, &info->val_tokens))
        return -1;
    info->data_kind = MOAC_DATA_TOKENS;
    info->token_bytes = dtype == 0 ? 2 : 4;
    uint64_t w = (uint64_t)info->token_bytes;
    if (info->has_val) {
        info->split = 1;
        if (get_text(r, "val_path", 0, info->val_path, sizeof info->val_path) ||
            get_text(r, "val_abspath", 1, info->val_abspath, sizeof info->val_abspath) ||
            get_u64(r, "val_bytes", 1, MOAC_LIMIT_TOKEN_BYTES, &info->val_bytes) ||
            get_sha256(r, "val_sha256", info->val_sha256))
            return -1;
    } else if (get_split(r, "split", &info->split)) {
        return -1;
    }
    if (dtype == 0 && info->vocab > 65536) {
        moac_diag_file_error(r->d, r->path, "metadata field 'vocab' is %d but 'token_dtype' u16 holds tokens up to "
                             "65535; the checkpoint is damaged or was edited", info->vocab);
        return -1;
    }
    /* whole tokens, split as the loader splits */
    uint64_t n = info->data_bytes / w;
    int ok = info->data_bytes % w == 0;
    if (info->has_val)
        ok = ok && info->val_bytes % w == 0 && info->train_tokens == n && info->val_tokens == info->val_bytes / w;
    else
        ok = ok && info->train_tokens + info->val_tokens == n && info->train_tokens == (uint64_t)floor(info->split * (double)n);
    if (!ok) {
        char sizes[128];
        if (info->has_val)
            snprintf(sizes, sizeof sizes, "'data_bytes' (%" PRIu64 ") and 'val_bytes' (%" PRIu64 ")", info->data_bytes,
                     info->val_bytes);
        else
            snprintf(sizes, sizeof sizes, "the split %.17g of 'data_bytes' (%" PRIu64 ")", info->split,
                     info->data_bytes);
        moac_diag_file_error(r->d, r->path, "metadata fields 'train_tokens' (%" PRIu64 ") and 'val_tokens' (%" PRIu64
                             ") are not %s in %s tokens; the checkpoint is damaged or was edited", info->train_tokens,
                             info->val_tokens, sizes, dtypes[dtype]);
        return -1;
    }
    return 0;
}

static int read_meta_v2(const meta_reader *r, moac_ckpt_info *info) {
    static const char *const datas[] = {"text", "synthetic", "tokens", NULL};
    static const char *const toks[] = {"char", "byte", NULL};
    static const char *const layouts[] = {"joined", "separate", NULL};
    const char *what = MOAC_CHECKPOINT_FORMAT " checkpoint";
    int data, tok = 0, layout;
    uint64_t vocab;
    for (const char *const *f = v2_fields; *f; f++)
        if (!moac_safetensors_meta(r->st, *f)) return check_fields(r, v2_fields, NULL, NULL, what);
    /* vocab: up to the model's limit for token files; the checks below bound it for the others */
    if (get_choice(r, "data", datas, "text, synthetic or tokens", &data) ||
        get_u64(r, "vocab", 1, data == 2 ? MOAC_MAX_VOCAB : 256, &vocab))
        return -1;
    info->vocab = (int)vocab;
    if (data == 2) return read_meta_tokens(r, info);
    if (data == 1) {
        uint64_t pairs;
        if (check_fields(r, v2_fields, v2_synthetic, NULL, "checkpoint of the synthetic task") ||
            get_u64(r, "synthetic_pairs", 1, 26, &pairs) ||
            get_choice(r, "synthetic_layout", layouts, "joined or separate", &layout))
            return -1;
        info->data_kind = MOAC_DATA_SYNTHETIC;
        info->synth_pairs = (int)pairs;
        info->synth_layout = (moac_synth_layout)layout;
        if (info->vocab != moac_synthetic_vocab(info->synth_layout)) {
            moac_diag_file_error(r->d, r->path, "metadata field 'vocab' is %d but the synthetic task (layout = %s) has "
                                 "%d tokens; the checkpoint is damaged or was edited", info->vocab,
                                 layout_names[layout], moac_synthetic_vocab(info->synth_layout));
            return -1;
        }
        return 0;
    }
    /* text: the tokenizer decides whether there is a character table */
    const char *tv = moac_safetensors_meta(r->st, "tokenizer");
    if (tv && get_choice(r, "tokenizer", toks, "char or byte", &tok)) return -1;
    if (check_fields(r, v2_fields, v2_text, tok == 0 ? v2_char : NULL, tok == 0 ? "checkpoint of text "
                     "(tokenizer = char)" : "checkpoint of text (tokenizer = byte)"))
        return -1;
    info->data_kind = tok == 0 ? MOAC_DATA_CHAR : MOAC_DATA_BYTE;
    if ((tok == 0 && get_chars(r, "vocab_chars", 0, info)) ||
        get_text(r, "data_path", 0, info->data_path, sizeof info->data_path) ||
        get_text(r, "data_abspath", 1, info->data_abspath, sizeof info->data_abspath) ||
        get_u64(r, "data_bytes", 1, MOAC_LIMIT_DATA_BYTES, &info->data_bytes) ||
        get_sha256(r, "data_sha256", info->data_sha256) || get_split(r, "split", &info->split) ||
        get_u64(r, "train_tokens", 1, MOAC_LIMIT_DATA_BYTES, &info->train_tokens) ||
        get_u64(r, "val_tokens", 0, MOAC_LIMIT_DATA_BYTES, &info->val_tokens))
        return -1;
    int want_vocab = tok == 0 ? info->nchars : 256;
    if (info->vocab != want_vocab) {
        moac_diag_file_error(r->d, r->path, "metadata field 'vocab' is %d but its %s has %d tokens; the checkpoint is "
                             "damaged or was edited", info->vocab, tok == 0 ? "character table (vocab_chars)" :
                             "tokenizer (byte)", want_vocab);
        return -1;
    }
    /* one token per byte, split as check_split splits */
    if (info->train_tokens + info->val_tokens != info->data_bytes ||
        info->train_tokens != (uint64_t)floor(info->split * (double)info->data_bytes)) {
        moac_diag_file_error(r->d, r->path, "metadata fields 'train_tokens' (%" PRIu64 ") and 'val_tokens' (%" PRIu64
                             ") are not the split %.17g of 'data_bytes' (%" PRIu64 "); the checkpoint is damaged or "
                             "was edited", info->train_tokens, info->val_tokens, info->split, info->data_bytes);
        return -1;
    }
    return 0;
}

/* Fills info from the metadata, or reports the first field that is missing, extra, malformed or
 * out of its limits. */
static int read_meta(const moac_safetensors *st, const char *path, moac_ckpt_info *info, moac_diag *d) {
    meta_reader r = {st, path, d};
    const char *format = moac_safetensors_meta(st, "format");
    if (!format || (strcmp(format, MOAC_CHECKPOINT_FORMAT) && strcmp(format, MOAC_CHECKPOINT_FORMAT_V1))) {
        moac_diag_file_error(d, path, "is not a moac checkpoint (metadata format is %s%.60s%s, expected %s)",
                             format ? "'" : "", format ? format : "missing", format ? "'" : "", MOAC_CHECKPOINT_FORMAT);
        return -1;
    }
    info->version = strcmp(format, MOAC_CHECKPOINT_FORMAT) ? 1 : 2;
    if (info->version == 1 ? read_meta_v1(&r, info) : read_meta_v2(&r, info)) return -1;
    if (get_text(&r, "model", 0, info->model, sizeof info->model) ||
        get_u64(&r, "steps", 0, MOAC_CKPT_MAX_STEPS, &info->total) ||
        get_u64(&r, "step", 0, MOAC_CKPT_MAX_STEPS, &info->step) ||
        get_u64(&r, "seed", 0, MOAC_CKPT_MAX_SEED, &info->seed))
        return -1;
    if (info->step > info->total) {
        moac_diag_file_error(d, path, "metadata field 'step' is %" PRIu64 " but 'steps' (the run's plan) is %" PRIu64
                             "; a run never goes past its plan, so the checkpoint is damaged or was edited",
                             info->step, info->total);
        return -1;
    }
    return 0;
}

/* ---- reading the tensors ---- */

/* Checks one tensor against the param it should hold. */
/* "F32 [53, 64]" */
static void put_shape(char *buf, size_t n, const char *dtype, int rank, const int64_t *dims) {
    size_t at = (size_t)snprintf(buf, n, "%s [", dtype);
    for (int r = 0; r < rank && at < n; r++)
        at += (size_t)snprintf(buf + at, n - at, "%s%lld", r ? ", " : "", (long long)dims[r]);
    if (at < n) snprintf(buf + at, n - at, "]");
}

static int check_tensor(const char *path, const moac_st_tensor *t, const char *name, const moac_param *pa,
                        moac_diag *d) {
    if (!t) {
        moac_diag_file_error(d, path, "lacks tensor '%s'; it was written for a different model", name);
        return -1;
    }
    int same = !strcmp(t->dtype, "F32") && t->rank == pa->rank;
    for (int r = 0; same && r < pa->rank; r++) same = t->dims[r] == pa->dims[r];
    if (!same) {
        char have[160], want[160];
        put_shape(have, sizeof have, t->dtype, t->rank, t->dims);
        put_shape(want, sizeof want, "F32", pa->rank, pa->dims);
        moac_diag_file_error(d, path, "tensor '%s' is %s but the spec's is %s; the checkpoint was written for a "
                             "different model (or an earlier version of this spec)", name, have, want);
        return -1;
    }
    return 0;
}

int moac_checkpoint_load(const char *path, const moac_spec *spec, moac_state *s, moac_ckpt_info *info, moac_diag *d) {
    moac_safetensors *st = moac_safetensors_read(path, d);
    if (!st) return -1;
    memset(info, 0, sizeof *info);
    if (read_meta(st, path, info, d)) {
        moac_safetensors_free(st);
        return -1;
    }
    int bad = 0;
    if (strcmp(info->model, spec->name))
        moac_diag_note(d, (moac_loc){0}, "%s was written for model '%s'; checking it against '%s'", path, info->model,
                       spec->name);
    const char *prefixes[3] = {"", "adam.m.", "adam.v."};
    char name[512];
    for (int k = 0; k < 3 && !bad; k++)
        for (int p = 0; p < s->nparams && !bad; p++) {
            snprintf(name, sizeof name, "%s%s", prefixes[k], s->params[p].name);
            bad |= check_tensor(path, moac_safetensors_find(st, name), name, &s->params[p], d) != 0;
        }
    if (!bad && moac_safetensors_count(st) != 3 * s->nparams) {
        moac_diag_file_error(d, path, "holds %d tensors but model '%s' has %d (params and two moments each); it was "
                             "written for a different model", moac_safetensors_count(st), spec->name, 3 * s->nparams);
        bad = 1;
    }
    if (!bad) {
        float *sections[3] = {s->w, s->m, s->v};
        for (int k = 0; k < 3; k++)
            for (int p = 0; p < s->nparams; p++) {
                snprintf(name, sizeof name, "%s%s", prefixes[k], s->params[p].name);
                const moac_st_tensor *t = moac_safetensors_find(st, name);
                memcpy(sections[k] + s->params[p].offset, t->data, t->nbytes);
            }
        s->step = info->step;
        memset(s->g, 0, s->total * sizeof *s->g);
    }
    moac_safetensors_free(st);
    return bad ? -1 : 0;
}
