/* realpath is XSI (the build asks for plain POSIX 2008) */
#define _XOPEN_SOURCE 700

#include "runtime/data_source.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "support/readfile.h"
#include "support/sha256.h"

int moac_data_identity(const char *path, uint64_t *bytes, char sha256[65], char *why, size_t whylen) {
    uint64_t size = 0;
    *bytes = 0;
    sha256[0] = 0;
    FILE *f = moac_file_open(path, &moac_limits_data, &size, why, whylen);
    if (!f) return -1;
    moac_sha256 c;
    moac_sha256_init(&c);
    enum { CHUNK = 1 << 16 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) abort();
    size_t got;
    uint64_t total = 0;
    while ((got = fread(buf, 1, CHUNK, f)) > 0 && total <= MOAC_LIMIT_DATA_BYTES) {
        moac_sha256_update(&c, buf, got);
        total += got;
    }
    int err = ferror(f) ? errno : 0;
    fclose(f);
    free(buf);
    if (err || total > MOAC_LIMIT_DATA_BYTES) {
        snprintf(why, whylen, "%s", err ? strerror(err) : "it grew past the limit for training data while being read");
        errno = 0;
        return -1;
    }
    unsigned char digest[32];
    moac_sha256_final(&c, digest);
    for (int i = 0; i < 32; i++) snprintf(sha256 + 2 * i, 3, "%02x", digest[i]);
    *bytes = total;
    return 0;
}

static int synthetic(moac_dataset *ds, const moac_spec *spec, int pairs, moac_synth_layout layout, moac_diag *d) {
    return moac_dataset_synthetic(ds, pairs, layout, spec->vocab, spec->context, spec->src ? spec->src->path : NULL, d);
}

static moac_data_kind spec_kind(const moac_spec *spec) {
    return spec->train.tokenizer == MOAC_TOK_BYTE ? MOAC_DATA_BYTE : MOAC_DATA_CHAR;
}

static const char *tokenizer_name(moac_data_kind k) { return k == MOAC_DATA_BYTE ? "byte" : "char"; }

/* The spec's data in words, for notes. */
static void spec_data_name(const moac_spec *spec, char *buf, size_t n) {
    if (spec->train.data) snprintf(buf, n, "\"%s\"", spec->train.data);
    else if (spec->train.tokens_train) snprintf(buf, n, "tokens(\"%s\")", spec->train.tokens_train);
    else moac_ckpt_synthetic_name(buf, n, spec->train.synth_pairs, spec->train.synth_layout);
}

static moac_token_source spec_tokens(const moac_spec *spec) {
    const moac_train_spec *t = &spec->train;
    return (moac_token_source){t->tokens_train, t->tokens_val, t->tokens_vocab, t->token_bytes, t->split};
}

int moac_data_check(const moac_spec *spec, moac_diag *d) {
    if (!spec->train.tokens_train) return 0;
    moac_dataset ds;
    moac_token_source src = spec_tokens(spec);
    int rc = moac_dataset_load_tokens(&ds, &src, spec->context, MOAC_TOKENS_CHECK, d);
    if (!rc) moac_dataset_free(&ds);
    return rc;
}

static int load_text(moac_dataset *ds, const moac_spec *spec, const char *path, moac_data_kind kind, double split,
                     const moac_ckpt_info *info, moac_diag *d) {
    int fixed = info && kind == MOAC_DATA_CHAR && info->data_kind == MOAC_DATA_CHAR && info->nchars > 0;
    return moac_dataset_load_text(ds, path, kind, split, spec->vocab, spec->context, fixed ? info->chars : NULL,
                                  fixed ? info->nchars : 0, d);
}

/* Whether path holds the recorded data: 1 same, 0 different (bytes, sha filled), -1 unreadable
 * (why filled, errno kept). */
static int same_data(const char *path, const moac_ckpt_info *info, uint64_t *bytes, char sha[65], char *why,
                     size_t whylen) {
    if (moac_data_identity(path, bytes, sha, why, whylen)) return -1;
    return *bytes == info->data_bytes && !strcmp(sha, info->data_sha256);
}

/* The recorded text, found again and verified; path_out is the path that holds it. */
static int find_recorded(const char *ckpt, const moac_ckpt_info *info, const char **path_out, moac_diag *d) {
    const char *cands[2] = {info->data_abspath, info->data_path};
    int ncand = strcmp(info->data_abspath, info->data_path) ? 2 : 1;
    uint64_t bytes[2] = {0, 0};
    char sha[2][65], why[2][512];
    int r[2] = {-1, -1}, gone[2] = {1, 1};
    *path_out = NULL;
    for (int i = 0; i < ncand; i++) {
        r[i] = same_data(cands[i], info, &bytes[i], sha[i], why[i], sizeof why[i]);
        gone[i] = r[i] < 0 && errno == ENOENT;
        if (r[i] == 1) {
            *path_out = cands[i];
            return 0;
        }
    }
    /* Not found as it was: say what happened to the file at its absolute path. */
    int i = r[0] == 0 || !gone[0] ? 0 : ncand == 2 && !gone[1] ? 1 : 0;
    if (r[i] == 0)
        moac_diag_file_error(d, ckpt, "was trained on %s, which has changed since (it was %" PRIu64 " bytes with "
                             "sha256 %s; it is now %" PRIu64 " bytes with sha256 %s); restore that file, or pass "
                             "--data with a copy of the original", cands[i], info->data_bytes, info->data_sha256,
                             bytes[i], sha[i]);
    else if (gone[i])
        moac_diag_file_error(d, ckpt, "was trained on %s (given as %s), which is no longer there; put it back, or "
                             "pass --data with a copy of it (%" PRIu64 " bytes, sha256 %s)", info->data_abspath,
                             info->data_path, info->data_bytes, info->data_sha256);
    else
        moac_diag_file_error(d, ckpt, "was trained on %s, which cannot be read: %s; fix that, or pass --data with a "
                             "copy of it (%" PRIu64 " bytes, sha256 %s)", cands[i], why[i], info->data_bytes,
                             info->data_sha256);
    return -1;
}

/* Notes that the spec's train block names other data than the checkpoint's, which is used. */
static void note_spec_differs(const moac_spec *spec, const char *ckpt, const moac_ckpt_info *info,
                              const char *used, moac_diag *d) {
    char specname[300];
    spec_data_name(spec, specname, sizeof specname);
    if (info->data_kind == MOAC_DATA_SYNTHETIC) {
        if (!spec->train.data && !spec->train.tokens_train && spec->train.synth_pairs == info->synth_pairs &&
            spec->train.synth_layout == info->synth_layout)
            return;
        char mine[96];
        moac_ckpt_synthetic_name(mine, sizeof mine, info->synth_pairs, info->synth_layout);
        moac_diag_note(d, (moac_loc){0}, "%s was trained on the task %s; continuing on it, not on the spec's data %s",
                       ckpt, mine, specname);
        return;
    }
    const char *mine = info->data_kind == MOAC_DATA_TOKENS ? spec->train.tokens_train : spec->train.data;
    if (mine) {
        char *real = realpath(mine, NULL);
        int same = real && !strcmp(real, used);
        free(real);
        if (same || !strcmp(mine, info->data_path)) return;
    }
    moac_diag_note(d, (moac_loc){0}, "%s was trained on %s; continuing on it, not on the spec's data %s", ckpt, used,
                   specname);
}

/* A recorded token file found again: at its absolute path or, if nothing is there, at the path
 * as given; with its recorded size (its hash is checked after the scan that computes it). */
static int find_token_file(const char *ckpt, const char *abspath, const char *given, uint64_t bytes,
                           const char *sha256, const char **path_out, moac_diag *d) {
    struct stat sb;
    const char *path = abspath;
    int found = !stat(abspath, &sb);
    if (!found && errno == ENOENT && strcmp(abspath, given)) found = !stat(path = given, &sb);
    *path_out = NULL;
    if (!found) {
        moac_diag_file_error(d, ckpt, "was trained on %s (given as %s), which is no longer there; put it back (%" PRIu64
                             " bytes, sha256 %s)", abspath, given, bytes, sha256);
        return -1;
    }
    if ((uint64_t)sb.st_size != bytes) {
        moac_diag_file_error(d, ckpt, "was trained on %s, which has changed since (it was %" PRIu64 " bytes with sha256 "
                             "%s; it is now %" PRIu64 " bytes); restore that file", path, bytes, sha256,
                             (uint64_t)sb.st_size);
        return -1;
    }
    *path_out = path;
    return 0;
}

static int token_file_changed(const char *ckpt, const char *path, uint64_t bytes, const char *was, const char *now,
                              moac_diag *d) {
    if (!strcmp(was, now)) return 0;
    moac_diag_file_error(d, ckpt, "was trained on %s, which has changed since (it was %" PRIu64 " bytes with sha256 %s; "
                         "it is now %" PRIu64 " bytes with sha256 %s); restore that file", path, bytes, was, bytes, now);
    return -1;
}

/* Token files as recorded: found again, mapped, scanned, and the same bytes (size and SHA-256). */
static int open_recorded_tokens(moac_dataset *ds, const moac_spec *spec, const char *cli_data, const char *ckpt,
                                const moac_ckpt_info *info, moac_diag *d) {
    if (cli_data) {
        moac_diag_file_error(d, ckpt, "was trained on the token file%s %s%s%s, not on text; leave out --data %s to "
                             "continue on %s, or start a new run (another --out) to train on %s",
                             info->has_val ? "s" : "", info->data_abspath, info->has_val ? " and " : "",
                             info->has_val ? info->val_abspath : "", cli_data, info->has_val ? "them" : "it", cli_data);
        return -1;
    }
    const char *train, *val = NULL;
    if (find_token_file(ckpt, info->data_abspath, info->data_path, info->data_bytes, info->data_sha256, &train, d) ||
        (info->has_val &&
         find_token_file(ckpt, info->val_abspath, info->val_path, info->val_bytes, info->val_sha256, &val, d)))
        return -1;
    note_spec_differs(spec, ckpt, info, train, d);
    moac_token_source src = {train, val, info->vocab, info->token_bytes, info->split};
    if (moac_dataset_load_tokens(ds, &src, spec->context, MOAC_TOKENS_TRAIN, d)) return -1;
    int changed = token_file_changed(ckpt, train, info->data_bytes, info->data_sha256, ds->sha256, d) ||
                  (val && token_file_changed(ckpt, val, info->val_bytes, info->val_sha256, ds->val_sha256, d));
    if (!changed && (ds->ntrain != info->train_tokens || ds->ntokens - ds->ntrain != info->val_tokens))
        moac_diag_file_error(d, ckpt, "records the split %" PRIu64 " / %" PRIu64 " for %s, but it reads as %zu / %zu; "
                             "this moac splits differently from the one that wrote the checkpoint", info->train_tokens,
                             info->val_tokens, train, ds->ntrain, ds->ntokens - ds->ntrain);
    if (changed || ds->ntrain != info->train_tokens || ds->ntokens - ds->ntrain != info->val_tokens) {
        moac_dataset_free(ds);
        return -1;
    }
    moac_dataset_set_given(ds, info->data_path);
    moac_dataset_set_val_given(ds, val ? info->val_path : NULL);
    return 0;
}

static int open_recorded(moac_dataset *ds, const moac_spec *spec, const char *cli_data, const char *ckpt,
                         const moac_ckpt_info *info, moac_diag *d) {
    if (info->data_kind == MOAC_DATA_TOKENS) return open_recorded_tokens(ds, spec, cli_data, ckpt, info, d);
    if (info->data_kind == MOAC_DATA_SYNTHETIC) {
        char mine[96];
        moac_ckpt_synthetic_name(mine, sizeof mine, info->synth_pairs, info->synth_layout);
        if (cli_data) {
            moac_diag_file_error(d, ckpt, "was trained on the synthetic task %s, not on a file; leave out --data %s to "
                                 "continue on that task, or start a new run (another --out) to train on %s", mine,
                                 cli_data, cli_data);
            return -1;
        }
        note_spec_differs(spec, ckpt, info, NULL, d);
        return synthetic(ds, spec, info->synth_pairs, info->synth_layout, d);
    }
    const char *path = cli_data;
    if (cli_data) {
        uint64_t bytes;
        char sha[65], why[512];
        int r = same_data(cli_data, info, &bytes, sha, why, sizeof why);
        if (r < 0) {
            moac_diag_file_error(d, cli_data, "cannot read training data: %s", why);
            return -1;
        }
        if (r == 0) {
            moac_diag_file_error(d, ckpt, "was trained on %s (%" PRIu64 " bytes, sha256 %s), but --data %s is other "
                                 "data (%" PRIu64 " bytes, sha256 %s); leave out --data to continue on %s, or start a "
                                 "new run (another --out) to train on %s", info->data_abspath, info->data_bytes,
                                 info->data_sha256, cli_data, bytes, sha, info->data_abspath, cli_data);
            return -1;
        }
    } else {
        if (find_recorded(ckpt, info, &path, d)) return -1;
        note_spec_differs(spec, ckpt, info, path, d);
    }
    if (load_text(ds, spec, path, info->data_kind, info->split, info, d)) return -1;
    moac_dataset_set_given(ds, cli_data ? cli_data : info->data_path);
    /* Same bytes, same tokenizer and split: the same tokens, unless the tokenizer itself changed. */
    if (ds->vocab != info->vocab || ds->ntrain != info->train_tokens || ds->ntokens - ds->ntrain != info->val_tokens) {
        moac_diag_file_error(d, ckpt, "records %d tokens split %" PRIu64 " / %" PRIu64 " for %s, but it reads as %d "
                             "tokens split %zu / %zu; this moac tokenises differently from the one that wrote the "
                             "checkpoint", info->vocab, info->train_tokens, info->val_tokens, path, ds->vocab,
                             ds->ntrain, ds->ntokens - ds->ntrain);
        moac_dataset_free(ds);
        return -1;
    }
    return 0;
}

/* An older checkpoint: only the kind of data is known. */
static int open_v1(moac_dataset *ds, const moac_spec *spec, const char *cli_data, const char *ckpt,
                   const moac_ckpt_info *info, moac_diag *d) {
    const char *data = cli_data ? cli_data : spec->train.data;
    if (info->data_kind == MOAC_DATA_SYNTHETIC) {
        if (data || spec->train.tokens_train) {
            moac_diag_file_error(d, ckpt, "was trained on the synthetic task, not on a file; %s", cli_data ?
                                 "leave out --data" : "remove `data` from the spec's train block (or start a new run "
                                 "to train on that file)");
            return -1;
        }
        char name[96];
        moac_ckpt_synthetic_name(name, sizeof name, spec->train.synth_pairs, spec->train.synth_layout);
        moac_diag_note(d, (moac_loc){0}, "%s is an older checkpoint (%s) that does not record its task's settings; "
                       "assuming the spec's %s", ckpt, MOAC_CHECKPOINT_FORMAT_V1, name);
        return synthetic(ds, spec, spec->train.synth_pairs, spec->train.synth_layout, d);
    }
    if (!data) {
        moac_diag_file_error(d, ckpt, "was trained on text (tokenizer = %s), but it is an older checkpoint (%s) that "
                             "does not record which file; pass --data with the file it was trained on",
                             tokenizer_name(info->data_kind), MOAC_CHECKPOINT_FORMAT_V1);
        return -1;
    }
    moac_diag_note(d, (moac_loc){0}, "%s is an older checkpoint (%s) that records no data file or hash; moac cannot "
                   "check that %s is the data it was trained on (only that its characters are in its vocabulary); "
                   "the next checkpoint will record it", ckpt, MOAC_CHECKPOINT_FORMAT_V1, data);
    return load_text(ds, spec, data, info->data_kind, spec->train.split, info, d);
}

int moac_data_open(moac_dataset *ds, const moac_spec *spec, const char *cli_data, const char *ckpt,
                   const moac_ckpt_info *info, moac_diag *d) {
    memset(ds, 0, sizeof *ds);
    if (info) return info->version >= 2 ? open_recorded(ds, spec, cli_data, ckpt, info, d)
                                        : open_v1(ds, spec, cli_data, ckpt, info, d);
    if (!cli_data && spec->train.tokens_train) {
        moac_token_source src = spec_tokens(spec);
        return moac_dataset_load_tokens(ds, &src, spec->context, MOAC_TOKENS_TRAIN, d);
    }
    const char *data = cli_data ? cli_data : spec->train.data;
    if (!data) return synthetic(ds, spec, spec->train.synth_pairs, spec->train.synth_layout, d);
    return load_text(ds, spec, data, spec_kind(spec), spec->train.split, NULL, d);
}

int moac_data_tokens(moac_dataset *ds, const moac_spec *spec, const char *ckpt, const moac_ckpt_info *info,
                     moac_diag *d) {
    memset(ds, 0, sizeof *ds);
    if (info->data_kind == MOAC_DATA_TOKENS) {
        moac_diag_file_error(d, ckpt, "was trained on token files (%s), whose tokens moac cannot turn into text: it "
                             "has no tokenizer for them; moac generate works with checkpoints of text (tokenizer = "
                             "char or byte) and of the synthetic task", info->data_path);
        return -1;
    }
    if (info->data_kind != MOAC_DATA_SYNTHETIC) {
        moac_dataset_vocab(ds, info->data_kind, info->chars, info->nchars);
        return 0;
    }
    if (info->version >= 2) return synthetic(ds, spec, info->synth_pairs, info->synth_layout, d);
    (void)ckpt;
    return synthetic(ds, spec, spec->train.synth_pairs, spec->train.synth_layout, d);
}
