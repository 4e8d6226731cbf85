/* moac export --pytorch (export/export.h): the directory checked, the graph translated, the
 * checkpoint loaded, moac's reference outputs computed, then the files written. Everything that
 * can be refused is refused before the first write, so a failed export leaves the directory as
 * it was. */
#include "export/export.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export/pytorch.h"
#include "moac.h"
#include "runtime/checkpoint.h"
#include "runtime/exec.h"
#include "runtime/rundir.h"
#include "runtime/safetensors.h"
#include "support/rng.h"

#define EXPORT_FORMAT "moac-export-1"
#define CHECK_FORMAT "moac-export-check-1"

/* What an export writes; nothing else may be in a directory it writes over. */
static const char *const export_files[] = {"model.py", "model.safetensors", "model.ir", "check.safetensors"};
enum { NFILES = sizeof export_files / sizeof *export_files };

/* The pid of "<one of export_files>.tmp-<pid>" (a write cut short), or 0. */
static long tmp_pid(const char *name) {
    for (int k = 0; k < NFILES; k++) {
        size_t n = strlen(export_files[k]);
        if (strncmp(name, export_files[k], n) || strncmp(name + n, ".tmp-", 5)) continue;
        char *end;
        long pid = name[n + 5] >= '1' && name[n + 5] <= '9' ? strtol(name + n + 5, &end, 10) : 0;
        return pid > 0 && !*end ? pid : 0;
    }
    return 0;
}

/* Does dir/model.py say moac export wrote it (its first line)? */
static int is_our_model_py(const char *dir) {
    char path[4200], line[4096]; /* the header line names the model, whatever its length */
    snprintf(path, sizeof path, "%s/model.py", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int ours = fgets(line, sizeof line, f) && !strncmp(line, "# model.py: model '", 19) &&
               strstr(line, "(moac export --pytorch)");
    fclose(f);
    return ours;
}

/* dir may be missing, empty, or an earlier export (export_files, their temporary files, Python's
 * __pycache__, and a model.py moac wrote); anything else is someone's data. */
static int check_dir(const char *dir, moac_diag *d) {
    struct stat st;
    if (strlen(dir) > 4000) {
        moac_diag_file_error(d, dir, "the directory's path is too long; pass a shorter --pytorch DIR");
        return -1;
    }
    if (stat(dir, &st)) {
        if (errno == ENOENT) return 0;
        moac_diag_file_error(d, dir, "cannot look at the directory: %s", strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        moac_diag_file_error(d, dir, "exists and is not a directory; pass a new or empty --pytorch DIR");
        return -1;
    }
    DIR *dh = opendir(dir);
    if (!dh) {
        moac_diag_file_error(d, dir, "cannot read the directory: %s", strerror(errno));
        return -1;
    }
    const struct dirent *e;
    char other[256] = "";
    int ours = 0;
    while ((e = readdir(dh)) && !other[0]) {
        const char *name = e->d_name;
        int known = !strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, "__pycache__") || tmp_pid(name);
        for (int k = 0; k < NFILES && !known; k++) {
            known = !strcmp(name, export_files[k]);
            ours += known;
        }
        if (!known) snprintf(other, sizeof other, "%s", name);
    }
    closedir(dh);
    if (other[0]) {
        moac_diag_file_error(d, dir, "holds '%s', which moac export does not write; it writes into a new or empty "
                             "directory or over an earlier export only, so nothing was written: pass another "
                             "--pytorch DIR", other);
        return -1;
    }
    if (ours && !is_our_model_py(dir)) {
        moac_diag_file_error(d, dir, "holds files named as an export's but no model.py written by moac export, so "
                             "nothing was written: pass another --pytorch DIR");
        return -1;
    }
    return 0;
}

/* Temporary files of writes cut short, by processes that are gone. */
static void remove_stale(const char *dir) {
    DIR *dh = opendir(dir);
    if (!dh) return;
    const struct dirent *e;
    char path[4400];
    while ((e = readdir(dh))) {
        long pid = tmp_pid(e->d_name);
        if (!pid || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(dh);
}

/* Writes text to path atomically (a temporary file beside it, fsync, rename), as checkpoints are. */
static int write_text(const char *path, const char *text, size_t len, moac_diag *d) {
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    const char *step = "creating a temporary file beside it";
    FILE *f = fopen(tmp, "wb");
    int err = 0;
    if (f) {
        step = "writing";
        int ok = fwrite(text, 1, len, f) == len && !fflush(f) && !fsync(fileno(f));
        err = ok ? 0 : errno;
        if (fclose(f) && ok) ok = 0, err = errno;
        if (ok) {
            step = "renaming the temporary file";
            if (!rename(tmp, path)) return 0;
            err = errno;
        }
        unlink(tmp);
    } else {
        err = errno;
    }
    moac_diag_file_error(d, path, "cannot write (%s while %s); any earlier file there is unchanged",
                         strerror(err ? err : EIO), step);
    return -1;
}

/* ---- moac's outputs on the check's tokens ---------------------------------------------------- */

typedef struct check_data {
    int B, T;
    int32_t *x, *y;
    int n;                 /* outputs */
    const char **names;
    double **values;
    int64_t *numel;
    moac_type *types;
} check_data;

static void check_free(check_data *c) {
    for (int i = 0; i < c->n; i++) free(c->values[i]);
    free(c->values);
    free(c->names);
    free(c->numel);
    free(c->types);
    free(c->x);
    free(c->y);
}

/* Runs g (the evaluation graph at the check's batch) on random tokens and targets drawn from the
 * checkpoint's seed, keeping every output. */
static int run_check(const moac_graph *g, moac_state *s, const moac_spec *spec, uint64_t seed,
                     const moac_export_opts *o, check_data *c, moac_diag *d) {
    size_t n = (size_t)c->B * (size_t)c->T;
    c->x = malloc(n * sizeof *c->x);
    c->y = malloc(n * sizeof *c->y);
    if (!c->x || !c->y) abort();
    for (size_t i = 0; i < n; i++) {
        c->x[i] = (int32_t)moac_rng_below(seed, moac_rng_stream(MOAC_RNG_EXPORT, 0, 0), i, (uint64_t)spec->vocab);
        c->y[i] = (int32_t)moac_rng_below(seed, moac_rng_stream(MOAC_RNG_EXPORT, 1, 0), i, (uint64_t)spec->vocab);
    }
    moac_exec *e = moac_exec_new(g, o->backend, o->compile, o->quiet, d);
    if (!e) return -1;
    char err[256];
    if (moac_exec_run(e, s, c->x, c->y, &(moac_run_opts){.seed = seed, .step = 0, .training = 0}, err, sizeof err)) {
        moac_diag_file_error(d, o->ckpt, "%s", err);
        moac_exec_free(e);
        return -1;
    }
    c->n = moac_exec_metric_count(e);
    c->names = calloc((size_t)c->n + 1, sizeof *c->names);
    c->values = calloc((size_t)c->n + 1, sizeof *c->values);
    c->numel = calloc((size_t)c->n + 1, sizeof *c->numel);
    c->types = calloc((size_t)c->n + 1, sizeof *c->types);
    if (!c->names || !c->values || !c->numel || !c->types) abort();
    for (int i = 0; i < c->n; i++) {
        c->names[i] = moac_exec_metric_name(e, i, &c->numel[i]);
        const double *v = moac_exec_output(e, c->names[i], NULL);
        c->values[i] = malloc((size_t)c->numel[i] * sizeof(double) + 1);
        if (!c->values[i]) abort();
        memcpy(c->values[i], v, (size_t)c->numel[i] * sizeof(double));
        const moac_node *out = moac_graph_find(g, c->names[i]);
        c->types[i] = out ? out->type : (moac_type){.rank = 0};
    }
    moac_exec_free(e); /* the names are the graph's, which outlives it */
    return 0;
}

static int write_check(const char *path, const check_data *c, const moac_spec *spec, const char *backend,
                       moac_diag *d) {
    int nt = c->n + 2;
    moac_st_tensor *t = calloc((size_t)nt, sizeof *t);
    char **names = calloc((size_t)c->n + 1, sizeof *names);
    if (!t || !names) abort();
    for (int i = 0; i < c->n; i++) { /* F64 first: the I32 tokens after them keep every tensor aligned */
        size_t len = strlen(c->names[i]) + 5;
        names[i] = malloc(len);
        if (!names[i]) abort();
        snprintf(names[i], len, "out.%s", c->names[i]);
        t[i] = (moac_st_tensor){.name = names[i], .dtype = "F64", .rank = c->types[i].rank, .data = c->values[i],
                                .nbytes = (size_t)c->numel[i] * sizeof(double)};
        for (int k = 0; k < c->types[i].rank; k++) t[i].dims[k] = c->types[i].dims[k];
    }
    size_t tok = (size_t)c->B * (size_t)c->T * sizeof(int32_t);
    t[c->n] = (moac_st_tensor){.name = "tokens", .dtype = "I32", .rank = 2, .dims = {c->B, c->T}, .data = c->x,
                               .nbytes = tok};
    t[c->n + 1] = (moac_st_tensor){.name = "targets", .dtype = "I32", .rank = 2, .dims = {c->B, c->T}, .data = c->y,
                                   .nbytes = tok};
    const moac_st_meta meta[] = {{"format", CHECK_FORMAT}, {"model", spec->name}, {"moac", moac_version()},
                                 {"backend", backend}};
    int rc = moac_safetensors_write(path, t, nt, meta, (int)(sizeof meta / sizeof *meta), d);
    for (int i = 0; i < c->n; i++) free(names[i]);
    free(names);
    free(t);
    return rc;
}

static int write_weights(const char *path, const moac_state *s, const moac_spec *spec, const char *ckpt,
                         uint64_t step, moac_diag *d) {
    moac_st_tensor *t = calloc((size_t)s->nparams + 1, sizeof *t);
    if (!t) abort();
    for (int p = 0; p < s->nparams; p++) {
        const moac_param *pa = &s->params[p];
        t[p] = (moac_st_tensor){.name = pa->name, .dtype = "F32", .rank = pa->rank, .data = s->w + pa->offset,
                                .nbytes = pa->numel * sizeof(float)};
        for (int k = 0; k < pa->rank; k++) t[p].dims[k] = pa->dims[k];
    }
    char stepbuf[32];
    snprintf(stepbuf, sizeof stepbuf, "%llu", (unsigned long long)step);
    const moac_st_meta meta[] = {{"format", EXPORT_FORMAT}, {"model", spec->name}, {"moac", moac_version()},
                                 {"checkpoint", ckpt}, {"step", stepbuf}};
    int rc = moac_safetensors_write(path, t, s->nparams, meta, (int)(sizeof meta / sizeof *meta), d);
    free(t);
    return rc;
}

/* ---- the export ---------------------------------------------------------------------------- */

static moac_graph *eval_graph(moac_arena *a, const moac_spec *spec, int64_t batch, const moac_export_opts *o,
                              moac_diag *d) {
    /* Unfused, so that model.py has the spec's projections (fuse_projections would join them). */
    moac_pipeline p = {.logits = 1, .log = o->compile ? o->compile->log : NULL, .passes = "-fuse_projections"};
    return moac_pipeline_spec(a, spec, batch, &p, d);
}

int moac_export_pytorch(const moac_spec *spec, const moac_export_opts *o, moac_export_result *r, moac_diag *d) {
    moac_arena arena;
    moac_arena_init(&arena);
    moac_state state = {0};
    check_data check = {.B = o->check_batch, .T = spec->context};
    moac_strbuf py, ir;
    moac_strbuf_init(&py);
    moac_strbuf_init(&ir);
    int rc = -1;
    memset(r, 0, sizeof *r);
    if (check_dir(o->dir, d)) goto done;
    /* The graph at two batch sizes, so that model.py's sizes follow its own batch. */
    const int64_t batch[2] = {2, 3};
    const moac_graph *g[2] = {eval_graph(&arena, spec, batch[0], o, d), NULL};
    if (!g[0] || !(g[1] = eval_graph(&arena, spec, batch[1], o, d))) goto done;
    /* A graph model.py cannot express is refused before a checkpoint of gigabytes is read; the
     * text is made again below with the checkpoint's step in its header. */
    moac_pytorch_info early = {.spec_path = o->spec_path};
    if (moac_pytorch_source(g, batch, &early, &py, d)) goto done;
    moac_strbuf_clear(&py);
    if (moac_state_init(&state, g[0])) {
        moac_diag_file_error(d, NULL, "out of memory for the model's parameters");
        goto done;
    }
    moac_ckpt_info info;
    if (moac_checkpoint_load(o->ckpt, spec, &state, &info, d)) goto done;
    const char *backend = (o->backend ? o->backend : moac_backend_default())->name;
    char check_line[256];
    snprintf(check_line, sizeof check_line, "moac's outputs (%s backend) on %d x %d random tokens", backend,
             o->check_batch, spec->context);
    moac_pytorch_info pi = {.spec_path = o->spec_path, .ckpt_path = o->ckpt, .step = info.step, .steps = info.total,
                            .check = o->check_batch ? check_line : NULL};
    if (moac_pytorch_source(g, batch, &pi, &py, d)) goto done;
    moac_ir_print(g[0], &ir);
    if (o->check_batch) {
        const moac_graph *cg = o->check_batch == 2 ? g[0] : o->check_batch == 3 ? g[1] : NULL;
        if (!cg && !(cg = eval_graph(&arena, spec, o->check_batch, o, d))) goto done;
        if (run_check(cg, &state, spec, info.seed, o, &check, d)) goto done;
    }
    /* Everything is known to work: now the files. model.py first, so that a directory left by
     * an export cut short still reads as an earlier export and can be written over. */
    if (moac_rundir_make(o->dir, d)) goto done;
    remove_stale(o->dir);
    char path[4400];
    snprintf(path, sizeof path, "%s/model.py", o->dir);
    if (write_text(path, moac_strbuf_cstr(&py), py.len, d)) goto done;
    snprintf(path, sizeof path, "%s/model.ir", o->dir);
    if (write_text(path, moac_strbuf_cstr(&ir), ir.len, d)) goto done;
    snprintf(path, sizeof path, "%s/model.safetensors", o->dir);
    if (write_weights(path, &state, spec, o->ckpt, info.step, d)) goto done;
    snprintf(path, sizeof path, "%s/check.safetensors", o->dir);
    if (o->check_batch && write_check(path, &check, spec, backend, d)) goto done;
    if (!o->check_batch && unlink(path) && errno != ENOENT) { /* an earlier export's, for other weights */
        moac_diag_file_error(d, path, "cannot remove an earlier export's check: %s", strerror(errno));
        goto done;
    }
    for (int p = 0; p < state.nparams; p++) r->params += (long long)state.params[p].numel;
    r->step = info.step;
    r->checked = o->check_batch > 0;
    rc = 0;
done:
    check_free(&check);
    moac_state_free(&state);
    moac_strbuf_free(&py);
    moac_strbuf_free(&ir);
    moac_arena_free(&arena);
    return rc;
}
