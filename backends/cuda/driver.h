/* The CUDA driver API, loaded at run time with dlopen("libcuda.so.1"): building moac needs no
 * CUDA toolkit, and a machine without a GPU or driver gets a clear error from moac_cuda_open, not
 * a failure to start. Only what the CUDA backend uses is declared, with the driver's own types
 * reduced to integers and opaque pointers (their ABI is stable across driver versions; the
 * versioned entry points, cuMemAlloc_v2 and friends, are looked up by those names). */
#ifndef MOAC_CUDA_DRIVER_H
#define MOAC_CUDA_DRIVER_H
#include <stddef.h>

typedef int moac_cu_result;                /* CUresult: 0 is CUDA_SUCCESS */
typedef unsigned long long moac_cu_ptr;    /* CUdeviceptr */
typedef void *moac_cu_module, *moac_cu_function, *moac_cu_context;

typedef struct moac_cuda {
    void *lib;
    int device;                /* ordinal */
    int dev;                   /* its CUdevice handle */
    moac_cu_context ctx;       /* the device's primary context */
    int sm;                    /* compute capability as major * 10 + minor (90: H100/H200) */
    char name[256];
    size_t total_bytes;
    int driver_version;        /* 13000: CUDA 13.0 */

    moac_cu_result (*cuInit)(unsigned);
    moac_cu_result (*cuDriverGetVersion)(int *);
    moac_cu_result (*cuDeviceGetCount)(int *);
    moac_cu_result (*cuDeviceGet)(int *, int);
    moac_cu_result (*cuDeviceGetName)(char *, int, int);
    moac_cu_result (*cuDeviceGetAttribute)(int *, int, int);
    moac_cu_result (*cuDeviceTotalMem)(size_t *, int);
    moac_cu_result (*cuDevicePrimaryCtxRetain)(moac_cu_context *, int);
    moac_cu_result (*cuDevicePrimaryCtxRelease)(int);
    moac_cu_result (*cuCtxSetCurrent)(moac_cu_context);
    moac_cu_result (*cuCtxSynchronize)(void);
    moac_cu_result (*cuModuleLoadDataEx)(moac_cu_module *, const void *, unsigned, int *, void **);
    moac_cu_result (*cuModuleUnload)(moac_cu_module);
    moac_cu_result (*cuModuleGetFunction)(moac_cu_function *, moac_cu_module, const char *);
    moac_cu_result (*cuMemAlloc)(moac_cu_ptr *, size_t);
    moac_cu_result (*cuMemFree)(moac_cu_ptr);
    moac_cu_result (*cuMemGetInfo)(size_t *, size_t *);
    moac_cu_result (*cuMemcpyHtoD)(moac_cu_ptr, const void *, size_t);
    moac_cu_result (*cuMemcpyDtoH)(void *, moac_cu_ptr, size_t);
    moac_cu_result (*cuMemsetD8)(moac_cu_ptr, unsigned char, size_t);
    moac_cu_result (*cuLaunchKernel)(moac_cu_function, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                                     unsigned, void *, void **, void **);
    moac_cu_result (*cuGetErrorName)(moac_cu_result, const char **);
    moac_cu_result (*cuGetErrorString)(moac_cu_result, const char **);
} moac_cuda;

/* Loads the driver, initialises it and makes device `device`'s primary context current. NULL
 * with a message in err (no libcuda.so.1, no device, device out of range, driver too old). */
moac_cuda *moac_cuda_open(int device, char *err, size_t errlen);
void moac_cuda_close(moac_cuda *cu);

/* rc as "CUDA_ERROR_OUT_OF_MEMORY (out of memory)" (static storage). */
const char *moac_cuda_error(const moac_cuda *cu, moac_cu_result rc);
/* Whether rc failed; if so, err = "<what>: <error>". */
int moac_cuda_failed(const moac_cuda *cu, moac_cu_result rc, const char *what, char *err, size_t errlen);

/* Loads PTX text: the module, or NULL with the driver's JIT error log in err. */
moac_cu_module moac_cuda_load_ptx(moac_cuda *cu, const char *ptx, char *err, size_t errlen);

#endif
