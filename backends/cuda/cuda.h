/* The CUDA backend (NVIDIA GPUs): the same scheduled graph and memory plan as the CPU backend,
 * its kernels rendered by the shared LLVM emitters for the NVPTX target, PTX loaded through the
 * driver (driver.h) and launched in schedule order on one device arena.
 *
 * Work split: a kernel of `items` independent items (backends/llvm/cg.h) runs as a grid of
 * ceil(items / 128) blocks of 128 threads, thread t doing item t — through a `<name>_grid(bufs,
 * items)` entry (ptx_kernel) that calls the kernel body with lo = t, hi = t + 1; a serial kernel
 * runs [0, items) on one thread. bufs is a device array of the kernel's slot pointers. Where a
 * GPU needs a different algorithm than a CPU thread (matmul today), the backend has its own
 * emitter (moac_gpu_emitter), asked before the CPU's. Nodes the schedule leaves on the reference
 * kernel run on the host with their operands copied over and back. */
#ifndef MOAC_CUDA_H
#define MOAC_CUDA_H
#include "backends/cpu/emit.h"
#include "backends/llvm/cg.h"
#include "passes/schedule.h"

enum { MOAC_CUDA_BLOCK = 128 };

/* The GPU's own emitter for op, or NULL (the CPU's then renders it). */
moac_emit_fn moac_gpu_emitter(moac_op op);
int moac_gpu_emit_matmul(const moac_emit_ctx *e);
/* Flash attention for the GPU (kernels_attention.c): the forward (writing its joined
 * attention_lse), and the three gradients of a join; other configurations go to the CPU's. */
int moac_gpu_emit_attention(const moac_emit_ctx *e);
int moac_gpu_emit_attention_grad(const moac_emit_ctx *e);
/* Whether the GPU's attention kernels render n (head sizes that fit a thread's registers). */
int moac_gpu_attention_ok(const moac_node *n);

/* The optimizer on the device (optim.c): its three kernels, added to a training graph's module
 * (moac_optim_sumsq, moac_optim_norm, moac_optim_adamw); and the state that runs them over the
 * weights w[p] (the backend's param slots) and gradients g[p] (0: none) of st's parameters,
 * with the AdamW moments it allocates. new uploads st's weights and moments; download copies
 * them back; step clips and updates after a run, giving the norm before clipping. */
#include "backends/backend.h"
#include "backends/cuda/driver.h"
void moac_cuda_emit_optim(moac_cg *cg);
typedef struct moac_cuda_optim moac_cuda_optim;
moac_cuda_optim *moac_cuda_optim_new(moac_cuda *cu, moac_cu_module mod, const moac_optim_state *st,
                                     const moac_cu_ptr *w, const moac_cu_ptr *g, char *err, size_t errlen);
int moac_cuda_optim_upload(moac_cuda_optim *o, char *err, size_t errlen);
int moac_cuda_optim_download(moac_cuda_optim *o, char *err, size_t errlen);
int moac_cuda_optim_step(moac_cuda_optim *o, const moac_optim_hyper *h, double *norm, char *err, size_t errlen);
void moac_cuda_optim_free(moac_cuda_optim *o);

/* Adds the grid entry of every kernel of cg, optimises the module and writes it as PTX text
 * (ptx = 1) or as LLVM IR (0), malloc'd; consumes the module. NULL with err. */
char *moac_ptx_render(moac_cg *cg, int ptx, char *err, size_t errlen);

/* The schedule's rules for the CUDA backend, and pass 'plan' over its buffers. */
extern const moac_sched_rules moac_cuda_sched_rules;

#endif
