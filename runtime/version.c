#include "moac.h"

const char *moac_version(void) { return MOAC_VERSION_STRING; }
const char *moac_llvm_version(void) { return MOAC_LLVM_VERSION; }
