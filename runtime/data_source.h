/* Which data a run uses. A checkpoint records the data it was trained on (runtime/checkpoint.h);
 * resuming, evaluating and generating continue on that data unless --data says otherwise, and
 * --data must then be the same data (docs/training.md, "The data a checkpoint was trained on"). */
#ifndef MOAC_DATA_SOURCE_H
#define MOAC_DATA_SOURCE_H
#include "runtime/checkpoint.h"
#include "runtime/data.h"

/* Loads the data into ds. Without a checkpoint (info NULL): cli_data (text), else the spec's
 * token files or text file, else the spec's synthetic task. With one (ckpt names it): the data it records, re-read from
 * its absolute path (or, if that is gone, the path as given) and checked against its size and
 * sha256; with cli_data, that file, which must be the recorded data (else both are named in the
 * error). Token files are found the same way and must have their recorded size and sha256;
 * --data (text) is refused with them. A note says when the spec's train block names other data. An older checkpoint
 * (version 1) records no source: its kind of data must match, with a note that the file
 * cannot be checked. Returns 0, or -1 after reporting with ds left empty. */
int moac_data_open(moac_dataset *ds, const moac_spec *spec, const char *cli_data, const char *ckpt,
                   const moac_ckpt_info *info, moac_diag *d);

/* What moac check can know of the spec's data without training: token files are mapped and
 * checked as training checks them (missing, empty, not whole tokens, too short for a window, a
 * token >= vocab), with the same messages, without hashing them. Text and the synthetic task
 * are not looked at. Returns 0, or -1 after reporting. */
int moac_data_check(const moac_spec *spec, moac_diag *d);

/* The tokens of a checkpoint's data without reading it (moac generate): its character table,
 * bytes, or its synthetic task. Returns 0 or -1 after reporting. */
int moac_data_tokens(moac_dataset *ds, const moac_spec *spec, const char *ckpt, const moac_ckpt_info *info,
                     moac_diag *d);

/* Size and SHA-256 (hex) of a training data file, read through the bounded reader. Returns 0,
 * or -1 with the reason in why (errno ENOENT kept for a missing file). */
int moac_data_identity(const char *path, uint64_t *bytes, char sha256[65], char *why, size_t whylen);

#endif
