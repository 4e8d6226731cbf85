/* The CUDA driver through dlopen (driver.h). */
#include "backends/cuda/driver.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
    CU_JIT_INFO_LOG_BUFFER = 3,
    CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4,
    CU_JIT_ERROR_LOG_BUFFER = 5,
    CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6,
};

const char *moac_cuda_error(const moac_cuda *cu, moac_cu_result rc) {
    static __thread char buf[256];
    const char *name = NULL, *text = NULL;
    if (cu && cu->cuGetErrorName) cu->cuGetErrorName(rc, &name);
    if (cu && cu->cuGetErrorString) cu->cuGetErrorString(rc, &text);
    snprintf(buf, sizeof buf, "%s (%s)", name ? name : "CUDA error", text ? text : "no description");
    if (!name) snprintf(buf, sizeof buf, "CUDA error %d", rc);
    return buf;
}

int moac_cuda_failed(const moac_cuda *cu, moac_cu_result rc, const char *what, char *err, size_t errlen) {
    if (rc == 0) return 0;
    snprintf(err, errlen, "%s: %s", what, moac_cuda_error(cu, rc));
    return 1;
}

/* Every entry point, by the name the driver exports it under. */
static int resolve(moac_cuda *cu, char *err, size_t errlen) {
    struct {
        void **fn;
        const char *name;
    } syms[] = {
        {(void **)&cu->cuInit, "cuInit"},
        {(void **)&cu->cuDriverGetVersion, "cuDriverGetVersion"},
        {(void **)&cu->cuDeviceGetCount, "cuDeviceGetCount"},
        {(void **)&cu->cuDeviceGet, "cuDeviceGet"},
        {(void **)&cu->cuDeviceGetName, "cuDeviceGetName"},
        {(void **)&cu->cuDeviceGetAttribute, "cuDeviceGetAttribute"},
        {(void **)&cu->cuDeviceTotalMem, "cuDeviceTotalMem_v2"},
        {(void **)&cu->cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"},
        {(void **)&cu->cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"},
        {(void **)&cu->cuCtxSetCurrent, "cuCtxSetCurrent"},
        {(void **)&cu->cuCtxSynchronize, "cuCtxSynchronize"},
        {(void **)&cu->cuModuleLoadDataEx, "cuModuleLoadDataEx"},
        {(void **)&cu->cuModuleUnload, "cuModuleUnload"},
        {(void **)&cu->cuModuleGetFunction, "cuModuleGetFunction"},
        {(void **)&cu->cuMemAlloc, "cuMemAlloc_v2"},
        {(void **)&cu->cuMemFree, "cuMemFree_v2"},
        {(void **)&cu->cuMemGetInfo, "cuMemGetInfo_v2"},
        {(void **)&cu->cuMemcpyHtoD, "cuMemcpyHtoD_v2"},
        {(void **)&cu->cuMemcpyDtoH, "cuMemcpyDtoH_v2"},
        {(void **)&cu->cuMemsetD8, "cuMemsetD8_v2"},
        {(void **)&cu->cuLaunchKernel, "cuLaunchKernel"},
        {(void **)&cu->cuGetErrorName, "cuGetErrorName"},
        {(void **)&cu->cuGetErrorString, "cuGetErrorString"},
    };
    for (size_t i = 0; i < sizeof syms / sizeof *syms; i++) {
        *syms[i].fn = dlsym(cu->lib, syms[i].name);
        if (!*syms[i].fn) {
            snprintf(err, errlen, "the CUDA driver (libcuda.so.1) has no %s; it is too old for moac (CUDA 11 or "
                     "newer is needed)", syms[i].name);
            return -1;
        }
    }
    return 0;
}

moac_cuda *moac_cuda_open(int device, char *err, size_t errlen) {
    moac_cuda *cu = calloc(1, sizeof *cu);
    if (!cu) abort();
    cu->device = device;
    cu->lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!cu->lib) {
        const char *why = dlerror();
        snprintf(err, errlen, "no CUDA driver on this machine (%s); --backend cuda needs an NVIDIA GPU and its "
                 "driver; use --backend cpu", why ? why : "libcuda.so.1 not found");
        free(cu);
        return NULL;
    }
    char what[96];
    int count = 0;
    if (resolve(cu, err, errlen) || moac_cuda_failed(cu, cu->cuInit(0), "the CUDA driver did not start", err, errlen) ||
        moac_cuda_failed(cu, cu->cuDeviceGetCount(&count), "cannot count the GPUs", err, errlen))
        goto fail;
    if (count == 0 || device < 0 || device >= count) {
        if (count == 0) snprintf(err, errlen, "the CUDA driver sees no GPU; use --backend cpu");
        else snprintf(err, errlen, "there is no GPU %d: this machine has %d (--device 0 to %d)", device, count, count - 1);
        goto fail;
    }
    snprintf(what, sizeof what, "cannot open GPU %d", device);
    int major = 0, minor = 0;
    if (moac_cuda_failed(cu, cu->cuDeviceGet(&cu->dev, device), what, err, errlen) ||
        moac_cuda_failed(cu, cu->cuDeviceGetName(cu->name, (int)sizeof cu->name, cu->dev), what, err, errlen) ||
        moac_cuda_failed(cu, cu->cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, cu->dev),
                         what, err, errlen) ||
        moac_cuda_failed(cu, cu->cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, cu->dev),
                         what, err, errlen) ||
        moac_cuda_failed(cu, cu->cuDeviceTotalMem(&cu->total_bytes, cu->dev), what, err, errlen) ||
        moac_cuda_failed(cu, cu->cuDriverGetVersion(&cu->driver_version), what, err, errlen) ||
        moac_cuda_failed(cu, cu->cuDevicePrimaryCtxRetain(&cu->ctx, cu->dev), what, err, errlen))
        goto fail;
    if (moac_cuda_failed(cu, cu->cuCtxSetCurrent(cu->ctx), what, err, errlen)) {
        cu->cuDevicePrimaryCtxRelease(cu->dev);
        cu->ctx = NULL;
        goto fail;
    }
    cu->sm = major * 10 + minor;
    if (cu->sm < 70) {
        snprintf(err, errlen, "GPU %d (%s) has compute capability %d.%d; moac's CUDA backend needs 7.0 or newer",
                 device, cu->name, major, minor);
        goto fail;
    }
    return cu;
fail:
    moac_cuda_close(cu);
    return NULL;
}

void moac_cuda_close(moac_cuda *cu) {
    if (!cu) return;
    if (cu->ctx) cu->cuDevicePrimaryCtxRelease(cu->dev);
    if (cu->lib) dlclose(cu->lib);
    free(cu);
}

moac_cu_module moac_cuda_load_ptx(moac_cuda *cu, const char *ptx, char *err, size_t errlen) {
    static __thread char log[16384], info[4096];
    log[0] = info[0] = 0;
    int opts[4] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES, CU_JIT_INFO_LOG_BUFFER,
                   CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES};
    void *vals[4] = {log, (void *)(uintptr_t)sizeof log, info, (void *)(uintptr_t)sizeof info};
    moac_cu_module m = NULL;
    moac_cu_result rc = cu->cuModuleLoadDataEx(&m, ptx, 4, opts, vals);
    if (rc) {
        snprintf(err, errlen, "the CUDA driver could not compile moac's PTX for GPU %d (%s, sm_%d): %s%s%.8000s",
                 cu->device, cu->name, cu->sm, moac_cuda_error(cu, rc), *log ? "\n" : "", log);
        return NULL;
    }
    return m;
}
