/* The training state kept on a backend's device (backends/backend.h optim_*, runtime/exec.c),
 * without a GPU: a mock device backend — the interpreter, holding its own copy of the weights
 * and AdamW moments and running the host's clip and AdamW (runtime/state.c) on that copy —
 * trains tests/specs/tiny-moas.moa beside the plain interpreter. The losses, gradient norms,
 * evaluations and the final checkpoint must be identical, also across a stop and a resume. While
 * the mock holds the state it poisons the host's copies (NaN) after every step, so a runtime that
 * reads them without fetching them first (an evaluation, a checkpoint) fails here. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "moac.h"
#include "runtime/state.h"
#include "runtime/train.h"

typedef struct mock {
    void *inner;                /* the interpreter's handle */
    const moac_graph *g;
    const moac_optim_state *st; /* attached: the host's state */
    moac_state dev;             /* the "device" copy: params, grads, moments */
    int steps;                  /* optimizer steps taken on the device */
} mock;

static int attaches, downloads;

static const moac_node *named(const moac_graph *g, moac_op op, const char *name) {
    for (size_t i = 0; i < g->count; i++)
        if (g->nodes[i]->op == op && !strcmp(g->nodes[i]->s, name)) return g->nodes[i];
    return NULL;
}

static void *mock_compile(const moac_graph *g, const moac_compile_opts *o, moac_diag *d) {
    mock *m = calloc(1, sizeof *m);
    if (!m) abort();
    m->g = g;
    if (!(m->inner = moac_interp_backend.compile(g, o, d))) {
        free(m);
        return NULL;
    }
    return m;
}

static int mock_write(void *impl, const moac_node *n, const void *data) {
    mock *m = impl;
    return moac_interp_backend.write(m->inner, n, data);
}

static int mock_run(void *impl, const moac_run_opts *o, char *err, size_t errlen) {
    mock *m = impl;
    return moac_interp_backend.run(m->inner, o, err, errlen);
}

static int mock_read(const void *impl, const moac_node *n, float *dst) {
    const mock *m = impl;
    return moac_interp_backend.read(m->inner, n, dst);
}

static int mock_read_f64(const void *impl, const moac_node *n, double *dst) {
    const mock *m = impl;
    return moac_interp_backend.read_f64(m->inner, n, dst);
}

static void mock_free(void *impl) {
    mock *m = impl;
    moac_interp_backend.free(m->inner);
    free(m->dev.params);
    free(m->dev.w);
    free(m);
}

/* The device's weights into the interpreter (what its kernels would read). */
static void push_weights(mock *m) {
    for (int p = 0; p < m->dev.nparams; p++) {
        const moac_node *n = named(m->g, MOAC_OP_PARAM, m->dev.params[p].name);
        assert_non_null(n);
        assert_int_equal(moac_interp_backend.write(m->inner, n, m->dev.w + m->dev.params[p].offset), 0);
    }
}

static void poison_host(const moac_optim_state *st) {
    for (size_t i = 0; i < st->total; i++) st->w[i] = st->m[i] = st->v[i] = NAN;
}

static int mock_attach(void *impl, const moac_optim_state *st, char *err, size_t errlen) {
    (void)err, (void)errlen;
    mock *m = impl;
    attaches++;
    m->st = st;
    free(m->dev.params);
    free(m->dev.w);
    m->dev = (moac_state){.nparams = st->nparams, .total = st->total};
    m->dev.params = calloc((size_t)st->nparams + 1, sizeof *m->dev.params);
    m->dev.w = calloc(4 * st->total + 1, sizeof(float));
    if (!m->dev.params || !m->dev.w) abort();
    m->dev.g = m->dev.w + st->total;
    m->dev.m = m->dev.w + 2 * st->total;
    m->dev.v = m->dev.w + 3 * st->total;
    for (int p = 0; p < st->nparams; p++)
        m->dev.params[p] = (moac_param){.name = st->params[p].name, .offset = st->params[p].offset,
                                        .numel = st->params[p].numel, .decay = st->params[p].decay};
    memcpy(m->dev.w, st->w, st->total * sizeof(float));
    memcpy(m->dev.m, st->m, st->total * sizeof(float));
    memcpy(m->dev.v, st->v, st->total * sizeof(float));
    push_weights(m);
    poison_host(st);
    return 0;
}

static int mock_step(void *impl, const moac_optim_hyper *h, double *norm, char *err, size_t errlen) {
    (void)err, (void)errlen;
    mock *m = impl;
    assert_non_null(m->st);
    char name[512];
    for (int p = 0; p < m->dev.nparams; p++) {
        snprintf(name, sizeof name, "grad.%s", m->dev.params[p].name);
        const moac_node *n = named(m->g, MOAC_OP_OUTPUT, name);
        float *g = m->dev.g + m->dev.params[p].offset;
        if (n)
            assert_int_equal(moac_interp_backend.read(m->inner, n, g), 0);
        else
            memset(g, 0, m->dev.params[p].numel * sizeof *g);
    }
    moac_train_spec t = {.beta1 = h->beta1, .beta2 = h->beta2, .eps = h->eps, .weight_decay = h->weight_decay};
    m->dev.step = h->step - 1;
    *norm = moac_clip_grads(&m->dev, h->clip);
    moac_adamw_step(&m->dev, &t, h->lr);
    m->steps++;
    push_weights(m);
    poison_host(m->st);
    return 0;
}

static int mock_download(void *impl, char *err, size_t errlen) {
    (void)err, (void)errlen;
    mock *m = impl;
    downloads++;
    memcpy(m->st->w, m->dev.w, m->st->total * sizeof(float));
    memcpy(m->st->m, m->dev.m, m->st->total * sizeof(float));
    memcpy(m->st->v, m->dev.v, m->st->total * sizeof(float));
    return 0;
}

static const moac_backend_ops mock_backend = {
    .name = "mock-device",
    .compile = mock_compile,
    .write = mock_write,
    .run = mock_run,
    .read = mock_read,
    .read_f64 = mock_read_f64,
    .free = mock_free,
    .optim_attach = mock_attach,
    .optim_step = mock_step,
    .optim_download = mock_download,
};

/* The "loss", "grad_norm" and "val_loss" fields of metrics.jsonl, in order, as one string (the
 * timings differ between runs). */
static void metrics_of(const char *dir, char *out, size_t cap) {
    char path[512], line[8192];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t used = 0;
    out[0] = 0;
    while (fgets(line, sizeof line, f)) {
        const char *keys[3] = {"\"loss\":", "\"grad_norm\":", "\"val_loss\":"};
        for (int k = 0; k < 3; k++) {
            const char *at = strstr(line, keys[k]);
            if (!at) continue;
            at += strlen(keys[k]);
            size_t len = strcspn(at, ",}");
            assert_true(used + len + 2 < cap);
            memcpy(out + used, at, len);
            used += len;
            out[used++] = ' ';
            out[used] = 0;
        }
    }
    fclose(f);
}

static unsigned char *file_bytes(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int train(const moac_spec *spec, const moac_backend_ops *be, const char *dir, long until, const char *resume) {
    moac_diag d;
    moac_diag_init(&d);
    moac_train_opts o = {.data = resume ? NULL : "tests/data/shakespeare-256k.txt", .steps = 6, .until = until,
                         .batch = 4, .out_dir = dir, .resume = resume, .backend = be,
                         .quiet = 1};
    int rc = moac_train(spec, &o, &d);
    if (rc) fputs(moac_strbuf_cstr(&d.out), stderr);
    moac_diag_free(&d);
    return rc;
}

static void test_device_state_equals_host(void **state) {
    (void)state;
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag d;
    moac_diag_init(&d);
    moac_spec *spec = moac_spec_load(&arena, "tests/specs/tiny-moas.moa", &d);
    assert_non_null(spec);
    spec->train.eval_every = 2; /* evaluations between steps read the weights the device holds */
    spec->train.eval_batches = 1;
    spec->train.clip = 0.05; /* small enough that every step clips */
    char root[] = "/tmp/moac-devstate-XXXXXX";
    assert_non_null(mkdtemp(root));
    char host_dir[600], dev_dir[600], ckpt[700], host_ckpt[700];
    snprintf(host_dir, sizeof host_dir, "%s/host", root);
    snprintf(dev_dir, sizeof dev_dir, "%s/device", root);
    assert_int_equal(train(spec, &moac_interp_backend, host_dir, 0, NULL), 0);
    /* on the mock device: stopped with a checkpoint at step 3, then resumed to 6 */
    assert_int_equal(train(spec, &mock_backend, dev_dir, 3, NULL), 0);
    int first_attaches = attaches;
    assert_int_equal(first_attaches, 1);
    assert_true(downloads >= 2); /* the evaluation at step 2, the checkpoint at 3 */
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.safetensors", dev_dir);
    assert_int_equal(train(spec, &mock_backend, dev_dir, 0, ckpt), 0);
    assert_int_equal(attaches, 2);

    char want[8192], got[8192];
    metrics_of(host_dir, want, sizeof want);
    metrics_of(dev_dir, got, sizeof got);
    assert_true(strlen(want) > 20);
    assert_string_equal(got, want);
    assert_null(strstr(got, "nan"));
    size_t na, nb;
    snprintf(host_ckpt, sizeof host_ckpt, "%s/ckpt.safetensors", host_dir);
    unsigned char *a = file_bytes(host_ckpt, &na), *b = file_bytes(ckpt, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a);
    free(b);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
    moac_diag_free(&d);
    moac_arena_free(&arena);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_state_equals_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
