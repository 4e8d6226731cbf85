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

/* Adds the grid entry of every kernel of cg, optimises the module and writes it as PTX text
 * (ptx = 1) or as LLVM IR (0), malloc'd; consumes the module. NULL with err. */
char *moac_ptx_render(moac_cg *cg, int ptx, char *err, size_t errlen);

/* The schedule's rules for the CUDA backend, and pass 'plan' over its buffers. */
extern const moac_sched_rules moac_cuda_sched_rules;

#endif
