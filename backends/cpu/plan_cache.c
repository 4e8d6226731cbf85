/* The compiled schedule as a cache file: kernels (names, work items, operand slots), steps, slots
 * (sizes, lifetimes, arena offsets) and which node lives in which slot. Written next to the
 * object file under the same key, which already covers the graph, the target and the moac
 * executable, so the layout of these structs cannot differ between writer and reader. The cache
 * entry's checksum (moac_jit_cache_load) catches damage to any byte, a moved offset included;
 * the header still checks sizes and counts, and anything inconsistent is treated as a miss. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/internal.h"

static const char magic[8] = "MOACPLN1";

typedef struct header {
    char magic[8];
    uint32_t sizes[3];     /* sizeof kernel desc, slot record, step record */
    uint32_t nodes, nslots, nsteps, nkernels;
    uint32_t fused, fallbacks;
} header;

typedef struct slot_rec {
    int64_t bytes;
    int32_t external, keep, first, last, node;
    uint64_t offset;
} slot_rec;

typedef struct step_rec {
    int32_t kind, kernel, node;
} step_rec;

void moac_plan_save(const moac_build *b, const char *path) {
    if (!*path) return;
    header h = {.sizes = {sizeof(moac_kernel_desc), sizeof(slot_rec), sizeof(step_rec)},
                .nodes = (uint32_t)b->g->count, .nslots = (uint32_t)b->nslots, .nsteps = (uint32_t)b->nsteps,
                .nkernels = (uint32_t)b->nkernels, .fused = (uint32_t)b->fused, .fallbacks = (uint32_t)b->fallbacks};
    memcpy(h.magic, magic, sizeof magic);
    size_t len = sizeof h + b->g->count * 2 * sizeof(int32_t) + (size_t)b->nslots * sizeof(slot_rec) +
                 (size_t)b->nsteps * sizeof(step_rec) + (size_t)b->nkernels * sizeof(moac_kernel_desc);
    char *buf = calloc(1, len), *p = buf;
    if (!buf) return;
    memcpy(p, &h, sizeof h), p += sizeof h;
    for (size_t i = 0; i < b->g->count; i++) {
        int32_t v[2] = {b->slot_of[i], b->inlined[i]};
        memcpy(p, v, sizeof v), p += sizeof v;
    }
    for (int s = 0; s < b->nslots; s++) {
        const moac_slot *sl = &b->slots[s];
        slot_rec r = {sl->bytes, sl->external, sl->keep, sl->first, sl->last, sl->node ? (int32_t)sl->node->id : -1,
                      sl->offset};
        memcpy(p, &r, sizeof r), p += sizeof r;
    }
    for (int s = 0; s < b->nsteps; s++) {
        const moac_step *st = &b->steps[s];
        step_rec r = {st->kind, st->kernel, st->node ? (int32_t)st->node->id : -1};
        memcpy(p, &r, sizeof r), p += sizeof r;
    }
    memcpy(p, b->kernels, (size_t)b->nkernels * sizeof *b->kernels);
    moac_jit_cache_store(path, buf, len);
    free(buf);
}

static int valid_node(const moac_build *b, int32_t id) { return id >= -1 && id < (int32_t)b->g->count; }

/* Copies n bytes from the payload at *at into dst; 0 when the payload is too short. */
static int take(const char *data, size_t len, size_t *at, void *dst, size_t n) {
    if (n > len - *at) return 0;
    memcpy(dst, data + *at, n);
    *at += n;
    return 1;
}

int moac_plan_load(moac_build *b, const char *path, const moac_log *log) {
    if (!*path) return -1;
    size_t len, at = 0;
    char *data = moac_jit_cache_load(path, &len, log); /* checksum verified */
    if (!data) return -1;
    header h;
    int ok = take(data, len, &at, &h, sizeof h) && !memcmp(h.magic, magic, sizeof magic) &&
             h.sizes[0] == sizeof(moac_kernel_desc) && h.sizes[1] == sizeof(slot_rec) &&
             h.sizes[2] == sizeof(step_rec) && h.nodes == b->g->count && h.nslots < (1u << 24) &&
             h.nsteps < (1u << 24) && h.nkernels < (1u << 24);
    int32_t *nodes = NULL;
    slot_rec *slots = NULL;
    step_rec *steps = NULL;
    moac_kernel_desc *kernels = NULL;
    if (ok) {
        nodes = calloc((size_t)h.nodes * 2 + 1, sizeof *nodes);
        slots = calloc((size_t)h.nslots + 1, sizeof *slots);
        steps = calloc((size_t)h.nsteps + 1, sizeof *steps);
        kernels = calloc((size_t)h.nkernels + 1, sizeof *kernels);
        ok = nodes && slots && steps && kernels && take(data, len, &at, nodes, sizeof *nodes * h.nodes * 2) &&
             take(data, len, &at, slots, sizeof *slots * h.nslots) && take(data, len, &at, steps, sizeof *steps * h.nsteps) &&
             take(data, len, &at, kernels, sizeof *kernels * h.nkernels) && at == len;
    }
    free(data);
    /* Every index must point inside its table before anything trusts it. */
    for (uint32_t i = 0; ok && i < h.nodes; i++) ok = nodes[2 * i] >= -1 && nodes[2 * i] < (int32_t)h.nslots;
    for (uint32_t s = 0; ok && s < h.nslots; s++) ok = valid_node(b, slots[s].node) && slots[s].bytes >= 0;
    for (uint32_t s = 0; ok && s < h.nsteps; s++)
        ok = (steps[s].kind == MOAC_STEP_KERNEL && steps[s].kernel >= 0 && steps[s].kernel < (int32_t)h.nkernels) ||
             (steps[s].kind == MOAC_STEP_FALLBACK && steps[s].node >= 0 && valid_node(b, steps[s].node));
    for (uint32_t k = 0; ok && k < h.nkernels; k++) {
        ok = kernels[k].nslots >= 0 && kernels[k].nslots <= MOAC_KERNEL_MAX_SLOTS && memchr(kernels[k].name, 0, 64);
        for (int j = 0; ok && j < kernels[k].nslots; j++) ok = kernels[k].slots[j] >= 0 && kernels[k].slots[j] < (int)h.nslots;
    }
    if (ok) {
        for (uint32_t s = 0; s < h.nslots; s++) {
            const slot_rec *r = &slots[s];
            const moac_node *n = r->node >= 0 ? b->g->nodes[r->node] : NULL;
            int id = moac_build_slot(b, r->bytes, n);
            moac_slot *sl = &b->slots[id];
            sl->external = r->external, sl->keep = r->keep, sl->first = r->first, sl->last = r->last;
            sl->offset = (size_t)r->offset;
            if (sl->external && n) {
                sl->owned = 1;
                sl->ext = calloc(1, (size_t)(r->bytes ? r->bytes : 4));
                if (!sl->ext) abort();
            }
        }
        for (uint32_t i = 0; i < h.nodes; i++) {
            b->slot_of[i] = nodes[2 * i];
            b->inlined[i] = nodes[2 * i + 1];
        }
        b->steps = calloc((size_t)h.nsteps + 1, sizeof *b->steps);
        if (!b->steps) abort();
        for (uint32_t s = 0; s < h.nsteps; s++)
            b->steps[s] = (moac_step){.kind = (moac_step_kind)steps[s].kind, .kernel = steps[s].kernel,
                                      .node = steps[s].node >= 0 ? b->g->nodes[steps[s].node] : NULL};
        b->nsteps = b->capsteps = (int)h.nsteps;
        b->kernels = kernels;
        b->nkernels = (int)h.nkernels;
        b->fused = (int)h.fused;
        b->fallbacks = (int)h.fallbacks;
        kernels = NULL;
    }
    free(nodes);
    free(slots);
    free(steps);
    free(kernels);
    return ok ? 0 : -1;
}
