/* export/model_template.py, embedded by the build (export/embed.cmake writes the array). */
#ifndef MOAC_EXPORT_TEMPLATE_H
#define MOAC_EXPORT_TEMPLATE_H
#include <stddef.h>

extern const char moac_pytorch_template[];     /* NUL-terminated */
extern const size_t moac_pytorch_template_len; /* without the NUL */

#endif
