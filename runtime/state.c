#include "runtime/state.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    if (t->schedule == MOAC_SCHED_CONSTANT) return t->lr;
    /* nanoGPT: linear warm-up over `warmup` steps, then cosine decay to min_lr at the last step. */
    if ((int64_t)step < t->warmup) return t->lr * (double)(step + 1) / (double)(t->warmup + 1);
    if ((int64_t)step >= t->steps) return t->min_lr;
    double span = (double)(t->steps - t->warmup);
    double ratio = span > 0 ? ((double)step - t->warmup) / span : 1;
    double coeff = 0.5 * (1.0 + cos(3.141592653589793 * ratio));
    return t->min_lr + coeff * (t->lr - t->min_lr);
}

double moac_clip_grads(moac_state *s, double clip) {
    double sum = 0;
    for (size_t i = 0; i < s->total; i++) sum += (double)s->g[i] * s->g[i];
    double norm = sqrt(sum);
    if (clip > 0 && norm > clip) {
        float scale = (float)(clip / (norm + 1e-6));
        for (size_t i = 0; i < s->total; i++) s->g[i] *= scale;
    }
    return norm;
}

void moac_adamw_step(moac_state *s, const moac_train_spec *t, double lr) {
    uint64_t step = s->step + 1;
    double b1 = t->beta1, b2 = t->beta2;
    double c1 = 1.0 - pow(b1, (double)step), c2 = 1.0 - pow(b2, (double)step);
    for (int p = 0; p < s->nparams; p++) {
        const moac_param *pa = &s->params[p];
        float *w = s->w + pa->offset, *g = s->g + pa->offset, *m = s->m + pa->offset, *v = s->v + pa->offset;
        double decay = pa->decay ? lr * t->weight_decay : 0;
        for (size_t i = 0; i < pa->numel; i++) {
            double gi = g[i];
            m[i] = (float)(b1 * m[i] + (1 - b1) * gi);
            v[i] = (float)(b2 * v[i] + (1 - b2) * gi * gi);
            double mhat = m[i] / c1, vhat = v[i] / c2;
            double wi = w[i] - decay * w[i];
            w[i] = (float)(wi - lr * mhat / (sqrt(vhat) + t->eps));
        }
    }
    s->step = step;
}
