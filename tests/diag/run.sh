#!/bin/sh
# Golden diagnostic test: `moac check NAME.moa` must exit non-zero (not crash) and print
# exactly NAME.err on stderr. Run from tests/diag so that paths in messages are relative.
# To update a golden file after a deliberate change: MOAC_UPDATE_GOLDEN=1 ctest -R diag.
moac=$1
name=$2
"$moac" check "$name.moa" >/dev/null 2>"$name.actual"
rc=$?
if [ "$rc" -eq 0 ]; then echo "FAIL: $name.moa was accepted"; rm -f "$name.actual"; exit 1; fi
if [ "$rc" -ne 1 ]; then echo "FAIL: $name.moa exited $rc (crash?)"; cat "$name.actual"; rm -f "$name.actual"; exit 1; fi
if [ -n "${MOAC_UPDATE_GOLDEN:-}" ]; then cp "$name.actual" "$name.err"; fi
if ! diff -u "$name.err" "$name.actual"; then rm -f "$name.actual"; exit 1; fi
rm -f "$name.actual"
