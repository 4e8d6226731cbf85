#!/bin/sh
# `moac check`: the acceptance figures through the command line, the summary, and its errors.
. "$(dirname "$0")/lib.sh"

field() { expect_rc 0 "$moac" check --json "models/$1.moa"; json_field "$2" <"$tmp/out"; }

[ "$(field mha params_nonembedding)" = 7190016 ] || fail "mha params_nonembedding"
[ "$(field moas-static params_nonembedding)" = 10139136 ] || fail "moas-static params_nonembedding"
[ "$(field moas params_nonembedding)" = 10287744 ] || fail "moas params_nonembedding"
[ "$(field mosa-tiny-dense flops_forward)" = 54760833024 ] || fail "mosa-tiny-dense flops_forward"

mha=$(field mha kv_bytes_per_token)
[ "$(field mqa kv_bytes_per_token)" -eq $((mha / 6)) ] || fail "mqa kv bytes are not 1/6 of mha"
[ "$(field gqa kv_bytes_per_token)" -eq $((mha * 2 / 6)) ] || fail "gqa kv bytes are not 2/6 of mha"
[ "$(field mixsga kv_bytes_per_token)" -eq $((mha / 2)) ] || fail "mixsga kv bytes are not 1/2 of mha"
for key in width layers heads params; do
  [ -n "$(field moas $key)" ] || fail "--json lacks $key"
done

# Every model in models/ checks, and its JSON is one line that Python's json reads.
for m in models/*.moa; do
  expect_rc 0 "$moac" check "$m"
  grep -q "is valid" "$tmp/out" || fail "$m: no summary"
  expect_rc 0 "$moac" check --json "$m"
  if command -v python3 >/dev/null; then
    python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["params"] > 0' <"$tmp/out" || fail "$m: bad JSON"
  fi
done

# The readable summary names the parts of the mixture.
expect_rc 0 "$moac" check models/moas.moa
grep -q "route of 3 branches, softmax gates from a mlp(96, gelu) router" "$tmp/out" || fail "moas summary"
grep -q "10,287,744" "$tmp/out" || fail "summary params"

# Errors: a missing file, a directory, a binary file; exit 1 with the file named.
expect_rc 1 "$moac" check "$tmp/nope.moa"
grep -q "nope.moa: error: cannot read file" "$tmp/err" || fail "missing file message"
expect_rc 1 "$moac" check "$tmp"
grep -q "error:" "$tmp/err" || fail "directory message"
printf 'model\0{}' >"$tmp/bin.moa"
expect_rc 1 "$moac" check "$tmp/bin.moa"
grep -q "contains a NUL byte (at byte 5)" "$tmp/err" || fail "binary file message"
finish
