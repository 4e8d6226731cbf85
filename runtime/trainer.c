#include "runtime/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "passes/pass.h"
#include "runtime/exec.h"

int moac_train_step(moac_exec *e, moac_state *s, const moac_train_spec *sched, uint64_t seed, const int32_t *x,
                    const int32_t *y, moac_step_result *r, char *err, size_t errlen) {
    uint64_t step = s->step;
    moac_run_opts o = {.seed = seed, .step = step, .training = 1};
    if (moac_exec_run(e, s, x, y, &o, err, errlen)) return -1;
    double loss = moac_exec_output(e, "loss", NULL)[0];
    if (!isfinite(loss)) {
        snprintf(err, errlen, "the loss became %g at step %llu; lower the learning rate or enable clip", loss,
                 (unsigned long long)step);
        return 1;
    }
    double lr = moac_lr_at(sched, step), norm;
    if (moac_exec_device_optimizer(e)) { /* gradients, clip and update stay on the device */
        moac_optim_hyper h = {lr, sched->beta1, sched->beta2, sched->eps, sched->weight_decay, sched->clip, step + 1};
        if (moac_exec_device_step(e, s, &h, &norm, err, errlen)) return 1; /* the device's fault, not the data's */
        s->step = step + 1;
    } else {
        moac_exec_grads(e, s);
        norm = moac_clip_grads(s, sched->clip);
        moac_adamw_step(s, sched, lr);
    }
    if (r) *r = (moac_step_result){step, loss, lr, norm};
    return 0;
}

struct moac_trainer {
    moac_arena arena;
    moac_exec *exec;
    moac_state state;
    moac_train_spec sched;
    uint64_t seed;
    int batch, context;
};

moac_trainer *moac_trainer_new(const moac_spec *spec, const moac_backend_ops *be, const moac_trainer_opts *o,
                               moac_diag *d) {
    moac_trainer_opts opts = o ? *o : (moac_trainer_opts){0};
    moac_trainer *t = calloc(1, sizeof *t);
    if (!t) abort();
    moac_arena_init(&t->arena);
    t->batch = opts.batch > 0 ? opts.batch : spec->train.batch;
    t->context = spec->context;
    t->sched = spec->train;
    t->seed = (uint64_t)spec->train.seed;
    moac_pipeline p = {.train = 1, .log = opts.compile ? opts.compile->log : NULL,
                       .passes = opts.compile ? opts.compile->passes : NULL};
    moac_graph *g = moac_pipeline_spec(&t->arena, spec, t->batch, &p, d);
    if (!g) goto fail;
    if (moac_state_init(&t->state, g)) {
        moac_diag_file_error(d, NULL, "out of memory for the model's parameters");
        goto fail;
    }
    moac_state_init_weights(&t->state, t->seed);
    if (!(t->exec = moac_exec_new(g, be, opts.compile, 0, d))) goto fail;
    return t;
fail:
    moac_trainer_free(t);
    return NULL;
}

int moac_trainer_batch(const moac_trainer *t) { return t->batch; }
int moac_trainer_context(const moac_trainer *t) { return t->context; }

int moac_trainer_step(moac_trainer *t, const int32_t *x, const int32_t *y, moac_step_result *r, moac_diag *d) {
    char err[256];
    if (!moac_train_step(t->exec, &t->state, &t->sched, t->seed, x, y, r, err, sizeof err)) return 0;
    moac_diag_file_error(d, NULL, "%s", err);
    return -1;
}

void moac_trainer_free(moac_trainer *t) {
    if (!t) return;
    moac_exec_free(t->exec);
    moac_state_free(&t->state);
    moac_arena_free(&t->arena);
    free(t);
}
