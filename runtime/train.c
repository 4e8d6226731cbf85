/* `moac train` and `moac eval`: compile the training and evaluation graphs, load the data, run
 * the loop (batches, forward + backward, clipping, AdamW, schedule), evaluate, log metrics as
 * JSONL and write checkpoints. Everything random is counter-based, so a run resumed from a
 * checkpoint at step N computes exactly what the uninterrupted run computed after step N. */
#include "runtime/train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "passes/pass.h"
#include "runtime/checkpoint.h"
#include "runtime/data.h"
#include "runtime/data_source.h"
#include "runtime/rundir.h"
#include "support/clock.h"

typedef struct session {
    moac_arena arena;
    const moac_spec *spec;
    moac_graph *train_graph, *eval_graph;
    moac_exec *train_exec, *eval_exec;
    moac_dataset data;
    int have_data;
    moac_state state;
    uint64_t seed;
    int B, T;
    int32_t *x, *y;
    uint8_t *answer;
    uint64_t total;  /* planned steps of the run */
    FILE *metrics;
    const char *metrics_path, *ckpt;
    int saved;           /* a checkpoint was written by this run */
    uint64_t saved_step; /* ... at this step */
} session;

static void session_free(session *s) {
    moac_exec_free(s->train_exec);
    moac_exec_free(s->eval_exec);
    if (s->have_data) moac_dataset_free(&s->data);
    moac_state_free(&s->state);
    free(s->x);
    free(s->y);
    free(s->answer);
    moac_arena_free(&s->arena);
}

static const moac_log *log_of(const moac_compile_opts *o) { return o ? o->log : NULL; }
static const char *passes_of(const moac_compile_opts *o) { return o ? o->passes : NULL; }

/* Forward graph with logits for evaluation; forward + backward for training. */
static int build_graphs(session *s, int training, const moac_compile_opts *o, moac_diag *d) {
    s->eval_graph = moac_pipeline_spec(&s->arena, s->spec, s->B, &(moac_pipeline){.logits = 1, .log = log_of(o), .passes = passes_of(o)}, d);
    if (!s->eval_graph) return -1;
    if (training) {
        s->train_graph =
            moac_pipeline_spec(&s->arena, s->spec, s->B, &(moac_pipeline){.train = 1, .log = log_of(o), .passes = passes_of(o)}, d);
        if (!s->train_graph) return -1;
    }
    /* The state holds the params of the full model (the eval graph has all of them too). */
    if (moac_state_init(&s->state, training ? s->train_graph : s->eval_graph)) {
        moac_diag_file_error(d, NULL, "out of memory for the model's parameters");
        return -1;
    }
    s->x = calloc((size_t)s->B * s->T, sizeof *s->x);
    s->y = calloc((size_t)s->B * s->T, sizeof *s->y);
    s->answer = calloc((size_t)s->B * s->T, 1);
    if (!s->x || !s->y || !s->answer) abort();
    return 0;
}

/* The data to train or evaluate on: a checkpoint's own when there is one (runtime/data_source.h). */
static int load_data(session *s, const char *data, const char *ckpt, const moac_ckpt_info *ck, moac_diag *d) {
    int rc = moac_data_open(&s->data, s->spec, data, ckpt, ck, d);
    s->have_data = rc == 0;
    /* notes about the data ("continuing on ...") belong before the run, not after it */
    fputs(moac_strbuf_cstr(&d->out), stderr);
    moac_strbuf_clear(&d->out);
    return rc;
}

static const char *val_loss_name(const moac_exec *e) {
    return moac_exec_output(e, "lm_loss", NULL) ? "lm_loss" : "loss";
}

typedef struct eval_result {
    double loss, accuracy;
    long answers;
} eval_result;

/* Mean validation loss over `batches` fixed validation batches, and on the synthetic task the
 * fraction of answers the model gets right (argmax of the logits). */
static int evaluate(session *s, int batches, eval_result *r, moac_diag *d) {
    moac_interp_opts o = {.seed = s->seed, .step = 0, .training = 0};
    double loss = 0;
    long right = 0, answers = 0;
    int64_t V = s->spec->vocab;
    char err[256];
    for (int b = 0; b < batches; b++) {
        moac_dataset_batch(&s->data, 1, s->seed, (uint64_t)b, s->B, s->T, s->x, s->y, s->answer);
        if (moac_exec_run(s->eval_exec, &s->state, s->x, s->y, &o, err, sizeof err)) {
            moac_diag_file_error(d, s->data.path, "%s", err);
            return -1;
        }
        loss += moac_exec_output(s->eval_exec, val_loss_name(s->eval_exec), NULL)[0];
        const double *logits = moac_exec_output(s->eval_exec, "logits", NULL);
        for (int64_t i = 0; logits && i < (int64_t)s->B * s->T; i++) {
            if (!s->answer[i]) continue;
            const double *row = logits + i * V;
            int64_t best = 0;
            for (int64_t v = 1; v < V; v++)
                if (row[v] > row[best]) best = v;
            right += best == s->y[i];
            answers++;
        }
    }
    r->loss = loss / batches;
    r->answers = answers;
    r->accuracy = answers ? (double)right / (double)answers : NAN;
    return 0;
}

/* ---- output ------------------------------------------------------------------------------ */

static void put_metric(FILE *f, const moac_exec *e, int i) {
    int64_t n;
    const char *name = moac_exec_metric_name(e, i, &n);
    const double *v = moac_exec_output(e, name, NULL);
    /* per-token tensors are not metrics; per-head statistics are (MoSA Tiny: 69 heads a layer) */
    if (!v || n > 4096) return;
    fprintf(f, ",\"%s\":", name);
    if (n == 1) {
        fprintf(f, "%.9g", v[0]);
        return;
    }
    fputc('[', f);
    for (int64_t k = 0; k < n; k++) fprintf(f, "%s%.6g", k ? "," : "", v[k]);
    fputc(']', f);
}

static void format_duration(char *buf, size_t n, double seconds) {
    if (!isfinite(seconds) || seconds < 0) seconds = 0;
    long s = (long)(seconds + 0.5);
    if (s >= 3600) snprintf(buf, n, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else if (s >= 60) snprintf(buf, n, "%ldm%02lds", s / 60, s % 60);
    else snprintf(buf, n, "%lds", s);
}

static void progress(const moac_train_opts *o, uint64_t step, uint64_t total, double loss, double lr, double tps,
                     double eta, int final_line) {
    if (o->quiet) return;
    char etab[32];
    format_duration(etab, sizeof etab, eta);
    if (o->progress) {
        int width = 24, done = total ? (int)(width * step / total) : width;
        fprintf(stderr, "\r[");
        for (int i = 0; i < width; i++) fputc(i < done ? '=' : i == done ? '>' : ' ', stderr);
        fprintf(stderr, "] step %llu/%llu  loss %.4f  lr %.2e  %.0f tok/s  ETA %s\033[K%s", (unsigned long long)step,
                (unsigned long long)total, loss, lr, tps, etab, final_line ? "\n" : "");
    } else {
        fprintf(stderr, "step %llu/%llu  loss %.4f  lr %.2e  %.0f tok/s  ETA %s\n", (unsigned long long)step,
                (unsigned long long)total, loss, lr, tps, etab);
    }
    fflush(stderr);
}

/* True when a and b name the same existing file. */
static int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* ---- metrics and checkpoints: every write checked --------------------------------------- */

/* After each metrics line: the line reached the file (a full disk, a file size limit or a
 * broken device shows up in the write or the flush), else an error that says what is kept. */
static int metrics_written(session *s, moac_diag *d) {
    int bad = ferror(s->metrics);
    if (fflush(s->metrics)) bad = 1;
    if (!bad) return 0;
    int err = errno ? errno : EIO;
    if (s->saved)
        moac_diag_file_error(d, s->metrics_path, "cannot write metrics (%s); training stopped at step %llu without "
                             "another checkpoint: %s is unchanged at step %llu; fix that and continue with --resume %s",
                             strerror(err), (unsigned long long)s->state.step, s->ckpt,
                             (unsigned long long)s->saved_step, s->ckpt);
    else
        moac_diag_file_error(d, s->metrics_path, "cannot write metrics (%s); training stopped at step %llu, and this "
                             "run wrote no checkpoint; fix that (free some disk space?) and run again",
                             strerror(err), (unsigned long long)s->state.step);
    return -1;
}

static int save(session *s, moac_diag *d) {
    char err[256];
    if (moac_exec_sync_state(&s->state, err, sizeof err)) { /* the weights back from the GPU */
        moac_diag_file_error(d, NULL, "%s; %s is unchanged", err, s->ckpt);
        return -1;
    }
    if (moac_checkpoint_save(s->ckpt, s->spec, &s->state, &s->data, s->seed, s->total, d)) return -1;
    s->saved = 1;
    s->saved_step = s->state.step;
    return 0;
}

/* ---- the loop ---------------------------------------------------------------------------- */

static int eval_and_save(session *s, const moac_train_opts *o, moac_diag *d) {
    eval_result r;
    if (evaluate(s, s->spec->train.eval_batches, &r, d)) return -1;
    FILE *metrics = s->metrics;
    errno = 0;
    fprintf(metrics, "{\"step\":%llu,\"eval\":{\"val_loss\":%.9g", (unsigned long long)s->state.step, r.loss);
    if (r.answers) fprintf(metrics, ",\"accuracy\":%.6g,\"answers\":%ld", r.accuracy, r.answers);
    fprintf(metrics, "}}\n");
    if (metrics_written(s, d)) return -1;
    if (!o->quiet) {
        if (o->progress) fputc('\n', stderr);
        fprintf(stderr, "eval step %llu: val loss %.4f", (unsigned long long)s->state.step, r.loss);
        if (r.answers) fprintf(stderr, ", answer accuracy %.1f%% (%ld answers)", 100 * r.accuracy, r.answers);
        fputc('\n', stderr);
    }
    return save(s, d);
}

/* Takes the run directory: created, locked for this run, cleared of dead runs' temporary files. */
static int take_run_dir(const char *dir, int *lock, moac_diag *d) {
    if (moac_rundir_make(dir, d) || (*lock = moac_rundir_lock(dir, d)) < 0) return -1;
    moac_rundir_clean_stale(dir, "ckpt.safetensors");
    return 0;
}

int moac_train(const moac_spec *spec, const moac_train_opts *o, moac_diag *d) {
    session s = {.spec = spec, .B = o->batch > 0 ? o->batch : spec->train.batch, .T = spec->context,
                 .seed = (uint64_t)spec->train.seed};
    moac_arena_init(&s.arena);
    int rc = 1, lock = -1;
    char ckpt[4096], metrics_path[4096];
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.safetensors", o->out_dir);
    snprintf(metrics_path, sizeof metrics_path, "%s/metrics.jsonl", o->out_dir);
    s.ckpt = ckpt;
    s.metrics_path = metrics_path;
    /* The directory is locked before anything in it is looked at, so two runs cannot both find
     * it free and then overwrite each other's checkpoints. */
    if (take_run_dir(o->out_dir, &lock, d)) goto done;
    if (access(ckpt, F_OK) == 0 && !(o->resume && same_file(o->resume, ckpt))) {
        moac_diag_file_error(d, ckpt, "already exists; continue that run with --resume %s, or pass another --out",
                             ckpt);
        goto done;
    }
    if (build_graphs(&s, 1, o->compile, d)) goto done;
    moac_ckpt_info info = {0};
    if (o->resume) {
        if (moac_checkpoint_load(o->resume, spec, &s.state, &info, d)) goto done;
        s.seed = info.seed;
        if (same_file(o->resume, ckpt)) { /* the last good checkpoint, until this run writes one */
            s.saved = 1;
            s.saved_step = info.step;
        }
        if (o->steps >= 0 && (uint64_t)o->steps < info.step) {
            moac_diag_file_error(d, o->resume, "is at step %llu, past --steps %ld; pass --steps %llu or more, or leave "
                                 "it out to keep the checkpoint's plan of %llu steps", (unsigned long long)info.step,
                                 o->steps, (unsigned long long)info.step, (unsigned long long)info.total);
            goto done;
        }
    } else {
        moac_state_init_weights(&s.state, s.seed);
    }
    if (load_data(&s, o->data, o->resume, o->resume ? &info : NULL, d)) goto done;
    s.train_exec = moac_exec_new(s.train_graph, o->backend, o->compile, o->quiet, d);
    s.eval_exec = s.train_exec ? moac_exec_new(s.eval_graph, o->backend, o->compile, o->quiet, d) : NULL;
    if (!s.train_exec || !s.eval_exec) goto done;
    s.metrics = fopen(metrics_path, o->resume ? "a" : "w");
    if (!s.metrics) {
        moac_diag_file_error(d, metrics_path, "cannot write metrics: %s", strerror(errno));
        goto done;
    }
    uint64_t total = o->steps >= 0 ? (uint64_t)o->steps : o->resume ? info.total : (uint64_t)spec->train.steps;
    s.total = total;
    moac_train_spec sched = spec->train;
    sched.steps = (int)total;
    if (!o->quiet) {
        long long nparams = 0;
        for (int p = 0; p < s.state.nparams; p++) nparams += (long long)s.state.params[p].numel;
        fprintf(stderr, "moac: training '%s' (%lld parameters) on %s (vocab %d, unigram entropy %.3f nats), %llu steps "
                        "of %d x %d tokens\n",
                spec->name, nparams, s.data.kind == MOAC_DATA_SYNTHETIC ? "the synthetic recall task" : s.data.path,
                s.data.vocab, moac_dataset_unigram_entropy(&s.data), (unsigned long long)total, s.B, s.T);
    }
    double start = moac_seconds(), t0 = start;
    uint64_t first = s.state.step;
    char err[256];
    while (s.state.step < total) {
        moac_dataset_batch(&s.data, 0, s.seed, s.state.step, s.B, s.T, s.x, s.y, NULL);
        moac_step_result r;
        int bad = moac_train_step(s.train_exec, &s.state, &sched, s.seed, s.x, s.y, &r, err, sizeof err);
        if (bad) { /* the data's fault (a token out of range), or the loss's */
            moac_diag_file_error(d, bad < 0 ? s.data.path : NULL, "%s", err);
            goto done;
        }
        double loss = r.loss, norm = r.grad_norm, lr = r.lr;
        double t1 = moac_seconds(), tps = (double)s.B * s.T / (t1 - t0);
        t0 = t1;
        errno = 0;
        fprintf(s.metrics, "{\"step\":%llu,\"loss\":%.17g,\"lr\":%.6g,\"grad_norm\":%.6g,\"tokens_per_s\":%.1f",
                (unsigned long long)s.state.step, loss, lr, norm, tps);
        for (int i = 0; i < moac_exec_metric_count(s.train_exec); i++) {
            if (!strcmp(moac_exec_metric_name(s.train_exec, i, NULL), "loss")) continue;
            put_metric(s.metrics, s.train_exec, i);
        }
        fputs("}\n", s.metrics);
        if (metrics_written(&s, d)) goto done;
        double per_step = (t1 - start) / (double)(s.state.step - first);
        uint64_t every = total >= 20 ? total / 20 : 1;
        if (o->progress || s.state.step % every == 0 || s.state.step == total)
            progress(o, s.state.step, total, loss, lr, tps, per_step * (double)(total - s.state.step), 0);
        int eval_now = spec->train.eval_every > 0 && s.state.step % (uint64_t)spec->train.eval_every == 0;
        if (eval_now || s.state.step == total) {
            if (eval_and_save(&s, o, d)) goto done;
        }
        int until = o->until > 0 && s.state.step >= (uint64_t)o->until;
        if (((o->stop && *o->stop) || until) && s.state.step < total) {
            if (!eval_now && save(&s, d)) goto done;
            if (o->progress) fputc('\n', stderr);
            fprintf(stderr, "moac: %s after step %llu; checkpoint written to %s (continue with --resume %s)\n",
                    until ? "stopping as asked (--until)" : "interrupted", (unsigned long long)s.state.step, ckpt, ckpt);
            rc = until ? 0 : 130;
            goto done;
        }
    }
    /* Nothing to train (--steps 0, or a resumed run already at its plan): the checkpoint still
     * goes where the final line says, unless it is the very file resumed from (s.saved). */
    if (!s.saved && eval_and_save(&s, o, d)) goto done;
    FILE *m = s.metrics;
    s.metrics = NULL;
    if (fclose(m)) {
        moac_diag_file_error(d, metrics_path, "cannot write metrics (%s while closing the file); the checkpoint %s "
                             "is complete", strerror(errno), ckpt);
        goto done;
    }
    fprintf(stderr, "moac: done: %llu steps; checkpoint %s, metrics %s\n", (unsigned long long)total, ckpt,
            metrics_path);
    rc = 0;
done:
    if (s.metrics) fclose(s.metrics);
    session_free(&s);
    if (lock >= 0) close(lock); /* releases the run directory */
    return rc;
}

int moac_eval(const moac_spec *spec, const moac_eval_opts *o, moac_diag *d) {
    session s = {.spec = spec, .B = o->batch > 0 ? o->batch : spec->train.batch, .T = spec->context};
    moac_arena_init(&s.arena);
    int rc = 1;
    moac_ckpt_info info;
    if (build_graphs(&s, 0, o->compile, d) || moac_checkpoint_load(o->ckpt, spec, &s.state, &info, d)) goto done;
    s.seed = info.seed;
    if (load_data(&s, o->data, o->ckpt, &info, d)) goto done;
    s.eval_exec = moac_exec_new(s.eval_graph, o->backend, o->compile, 0, d);
    if (!s.eval_exec) goto done;
    eval_result r;
    int batches = o->batches > 0 ? o->batches : spec->train.eval_batches;
    if (evaluate(&s, batches, &r, d)) goto done;
    printf("%s: step %llu: val loss %.4f", o->ckpt, (unsigned long long)info.step, r.loss);
    if (r.answers) printf(", answer accuracy %.2f%% (%ld answers)", 100 * r.accuracy, r.answers);
    printf(" over %d batches of %d x %d tokens\n", batches, s.B, s.T);
    rc = 0;
done:
    session_free(&s);
    return rc;
}
