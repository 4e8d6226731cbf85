#include "runtime/state.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "support/fpenv.h"
#include "support/rng.h"

int moac_state_init(moac_state *s, const moac_graph *g) {
    memset(s, 0, sizeof *s);
    int n = 0;
    for (size_t i = 0; i < g->count; i++) n += g->nodes[i]->op == MOAC_OP_PARAM;
    s->params = calloc(n ? (size_t)n : 1, sizeof *s->params);
    if (!s->params) return -1;
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *node = g->nodes[i];
        if (node->op != MOAC_OP_PARAM) continue;
        moac_param *p = &s->params[s->nparams++];
        p->name = node->s;
        p->rank = node->type.rank;
        memcpy(p->dims, node->type.dims, sizeof p->dims);
        p->numel = (size_t)moac_type_numel(&node->type);
        p->offset = s->total;
        p->fill = node->f[0];
        p->std = node->f[1];
        p->decay = p->rank >= 2;
        /* Keep each tensor 64-byte aligned for vector loads in the backends. */
        s->total += (p->numel + 15) & ~(size_t)15;
    }
    float *all = calloc(4 * (s->total ? s->total : 1), sizeof *all);
    if (!all) {
        free(s->params);
        s->params = NULL;
        return -1;
    }
    s->w = all;
    s->g = all + s->total;
    s->m = all + 2 * s->total;
    s->v = all + 3 * s->total;
    return 0;
}

void moac_state_free(moac_state *s) {
    free(s->w);
    free(s->params);
    memset(s, 0, sizeof *s);
}

void moac_state_init_weights(moac_state *s, uint64_t seed) {
    for (int p = 0; p < s->nparams; p++) {
        const moac_param *pa = &s->params[p];
        uint64_t stream = moac_rng_stream(MOAC_RNG_INIT, (uint64_t)p, 0);
        float *w = s->w + pa->offset;
        for (size_t i = 0; i < pa->numel; i++)
            w[i] = (float)(pa->fill + (pa->std > 0 ? pa->std * moac_rng_normal(seed, stream, i) : 0));
    }
    memset(s->g, 0, 3 * s->total * sizeof *s->g);
    s->step = 0;
}

const moac_param *moac_state_find(const moac_state *s, const char *name) {
    for (int p = 0; p < s->nparams; p++)
        if (!strcmp(s->params[p].name, name)) return &s->params[p];
    return NULL;
}

double moac_lr_at(const moac_train_spec *t, uint64_t step) {
    if (t->schedule == MOAC_LR_CONSTANT) return t->lr;
    /* nanoGPT: linear warm-up over `warmup` steps, then cosine decay to min_lr at the last step. */
    if ((int64_t)step < t->warmup) return t->lr * (double)(step + 1) / (double)(t->warmup + 1);
    if ((int64_t)step >= t->steps) return t->min_lr;
    double span = (double)(t->steps - t->warmup);
    double ratio = span > 0 ? ((double)step - t->warmup) / span : 1;
    double coeff = 0.5 * (1.0 + cos(3.141592653589793 * ratio));
    return t->min_lr + coeff * (t->lr - t->min_lr);
}

/* The optimizer's loops touch every parameter each step (10M+ in the paper models): they are
 * compiled -O3 (CMakeLists.txt) with versions for AVX-512 and AVX2 picked at load time, and
 * written so that they vectorise without reassociating anything, so results do not depend on the
 * machine. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define MOAC_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MOAC_VECTOR_CLONES
#endif

enum { SUM_LANES = 16 };

/* Sum of squares in double, in SUM_LANES interleaved partial sums added in a fixed order. */
MOAC_VECTOR_CLONES static double sum_squares(const float *g, size_t n) {
    double lane[SUM_LANES] = {0};
    size_t i = 0;
    for (; i + SUM_LANES <= n; i += SUM_LANES)
        for (int j = 0; j < SUM_LANES; j++) lane[j] += (double)g[i + j] * (double)g[i + j];
    for (; i < n; i++) lane[0] += (double)g[i] * (double)g[i];
    double sum = 0;
    for (int j = 0; j < SUM_LANES; j++) sum += lane[j];
    return sum;
}

MOAC_VECTOR_CLONES static void scale_floats(float *g, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) g[i] *= scale;
}

double moac_clip_grads(moac_state *s, double clip) {
    unsigned env = moac_fpenv_enter();
    double norm = sqrt(sum_squares(s->g, s->total));
    if (clip > 0 && norm > clip) scale_floats(s->g, s->total, (float)(clip / (norm + 1e-6)));
    moac_fpenv_leave(env);
    return norm;
}

/* One parameter's AdamW update in f32, PyTorch's formulation: m and v are kept as f32 anyway,
 * and step = lr / (1 - b1^t), denominator sqrt(v) / sqrt(1 - b2^t) + eps. */
MOAC_VECTOR_CLONES static void adamw_update(float *restrict w, const float *restrict g, float *restrict m,
                                            float *restrict v, size_t n, float b1, float b2, float keep,
                                            float step_size, float inv_sqrt_c2, float eps) {
    float a1 = 1.0f - b1, a2 = 1.0f - b2;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = b1 * m[i] + a1 * gi;
        float vi = b2 * v[i] + a2 * (gi * gi);
        m[i] = mi;
        v[i] = vi;
        w[i] = w[i] * keep - step_size * mi / (sqrtf(vi) * inv_sqrt_c2 + eps);
    }
}

typedef struct adamw_job {
    moac_state *s;
    const moac_train_spec *t;
    double lr, c1, c2;
    int half; /* 0: the first half of every parameter, 1: the second, -1: all of it */
} adamw_job;

static void *adamw_run(void *arg) {
    const adamw_job *j = arg;
    unsigned env = moac_fpenv_enter(); /* tiny gradients make denormal moments (support/fpenv.h) */
    moac_state *s = j->s;
    for (int p = 0; p < s->nparams; p++) {
        const moac_param *pa = &s->params[p];
        size_t lo = j->half == 1 ? pa->numel / 2 : 0, hi = j->half == 0 ? pa->numel / 2 : pa->numel;
        size_t o = pa->offset + lo;
        double keep = pa->decay ? 1.0 - j->lr * j->t->weight_decay : 1.0; /* decoupled, >= 2-D weights only */
        adamw_update(s->w + o, s->g + o, s->m + o, s->v + o, hi - lo, (float)j->t->beta1, (float)j->t->beta2,
                     (float)keep, (float)(j->lr / j->c1), (float)(1.0 / sqrt(j->c2)), (float)j->t->eps);
    }
    moac_fpenv_leave(env);
    return NULL;
}

/* Elementwise, so splitting it between two threads changes no result; worth it past ~1M params
 * (the update streams 28 bytes per parameter). */
void moac_adamw_step(moac_state *s, const moac_train_spec *t, double lr) {
    uint64_t step = s->step + 1;
    double c1 = 1.0 - pow(t->beta1, (double)step), c2 = 1.0 - pow(t->beta2, (double)step);
    adamw_job all = {s, t, lr, c1, c2, -1}, first = all, second = all;
    first.half = 0, second.half = 1;
    pthread_t helper;
    if (s->total >= (1u << 20) && !pthread_create(&helper, NULL, adamw_run, &second)) {
        adamw_run(&first);
        pthread_join(helper, NULL);
    } else {
        adamw_run(&all);
    }
    s->step = step;
}
