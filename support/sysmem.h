/* What the machine can give: memory still available to this process (MemAvailable), so stages can
 * refuse, with advice, work that would only be killed by the OOM killer. */
#ifndef MOAC_SYSMEM_H
#define MOAC_SYSMEM_H

/* Bytes available (MemAvailable from /proc/meminfo), or 0 when unknown. */
double moac_mem_available(void);

#endif
