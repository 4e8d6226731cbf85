#!/bin/sh
# Absurd inputs get a clear error at once: /dev/zero, /dev/urandom, a FIFO and a directory as a
# spec, an include, an IR file, training data and a checkpoint (every command runs under
# `timeout`, so a reader that reads forever, or waits for a FIFO's writer, fails instead of
# hanging); files over the size limits (sparse, so nothing is written); and specs that are big
# (200,000 lets: checked, with bounded memory) or deep (nesting, a long chain of lets, mixtures
# that multiply through lets: rejected, never a stack overflow).
. "$(dirname "$0")/lib.sh"
spec=tests/specs/tiny-mha.moa
t="timeout 20"
mkfifo "$tmp/fifo" || fail "mkfifo"
mkdir "$tmp/dir" "$tmp/dir.ir"

# expect_refused WHAT PATTERN command...: exit 1 with PATTERN on stderr
expect_refused() {
  what=$1 pattern=$2; shift 2
  expect_rc 1 "$@"
  grep -q "$pattern" "$tmp/err" || fail "$what: no '$pattern' in: $(head -c 300 "$tmp/err")"
}

for p in /dev/zero /dev/urandom "$tmp/fifo" "$tmp/dir"; do
  case $p in
    /dev/*) kind="a character device" ;;
    *fifo) kind="a FIFO" ;;
    *) kind="a directory" ;;
  esac
  expect_refused "spec $p" "$p: error: cannot read file: it is $kind.*, not a regular file" $t "$moac" check "$p"
  printf 'include "%s"\n' "$p" >"$tmp/inc.moa"
  expect_refused "include $p" "inc.moa:1:9: error: cannot read included file '$p': it is $kind" $t "$moac" check "$tmp/inc.moa"
  ir="$tmp/dir.ir"
  [ "$p" = "$tmp/dir" ] || { ln -sf "$p" "$tmp/x.ir"; ir="$tmp/x.ir"; }
  expect_refused "IR file $p" "$ir: error: cannot read file: it is $kind.*(moac reads IR text only from regular files)" \
    $t "$moac" ir "$ir"
  expect_refused "--data $p" "$p: error: cannot read training data: it is $kind" \
    $t "$moac" train "$spec" --data "$p" --steps 1 --out "$tmp/run"
  expect_refused "checkpoint $p" "$p: error: cannot read: it is $kind" $t "$moac" eval "$spec" --ckpt "$p"
done

# Over the limits (docs/architecture.md, "Limits"): refused from the size, before reading.
truncate -s 33M "$tmp/big.moa"
expect_refused "a 33 MiB spec" "big.moa: error: cannot read file: it is 33 MiB, over moac's limit of 32 MiB for spec files" \
  $t "$moac" check "$tmp/big.moa"
printf 'include "big.moa"\n' >"$tmp/incbig.moa"
expect_refused "a 33 MiB include" "over moac's limit of 32 MiB for spec files" $t "$moac" check "$tmp/incbig.moa"
truncate -s 600M "$tmp/big.ir"
expect_refused "a 600 MiB IR file" "over moac's limit of 512 MiB for IR text" $t "$moac" ir "$tmp/big.ir"
truncate -s 1100M "$tmp/big.txt"
expect_refused "1.1 GiB of data" "over moac's limit of 1 GiB for training data" \
  $t "$moac" train "$spec" --data "$tmp/big.txt" --steps 1 --out "$tmp/run"
if truncate -s 65G "$tmp/big.safetensors" 2>/dev/null; then
  expect_refused "a 65 GiB checkpoint" "over moac's limit of 64 GiB for checkpoints" \
    $t "$moac" eval "$spec" --ckpt "$tmp/big.safetensors"
fi
rm -f "$tmp"/big.*
# A binary include stops at its first NUL byte.
printf 'let a = 1\n\0\0\0' >"$tmp/bin.inc"
printf 'include "bin.inc"\n' >"$tmp/incbin.moa"
expect_refused "a binary include" "cannot read included file 'bin.inc': it contains a NUL byte (at byte 10)" \
  $t "$moac" check "$tmp/incbin.moa"

model='model m {
  vocab = 64
  context = 16
  width = 32
  layers = 1
  heads = 2
  attention = ATTN
}'
# 200,000 lets check, in bounded memory (2 GiB of address space; the sanitizers need more).
awk 'BEGIN { for (i = 0; i < 200000; i++) printf "let v%d = %d * 2 + 1\n", i, i }' >"$tmp/lets.moa"
echo "$model" | sed 's/ATTN/mha/' >>"$tmp/lets.moa"
if [ -z "$MOAC_SANITIZED" ]; then
  (ulimit -v 2097152 && timeout 120 "$moac" check "$tmp/lets.moa" >"$tmp/out" 2>"$tmp/err")
else
  timeout 300 "$moac" check "$tmp/lets.moa" >"$tmp/out" 2>"$tmp/err"
fi
rc=$?
[ $rc -eq 0 ] || fail "200,000 lets: exit $rc: $(head -c 300 "$tmp/err")"
grep -q "lets.moa: model 'm' is valid" "$tmp/out" || fail "200,000 lets: no summary: $(head -c 300 "$tmp/out")"

# Deep nesting: parentheses and lists beyond the parser's depth limit.
awk 'BEGIN { s = ""; for (i = 0; i < 100000; i++) s = s "("; printf "let x = %s1", s;
             s = ""; for (i = 0; i < 100000; i++) s = s ")"; print s }' >"$tmp/deep.moa"
echo "$model" | sed 's/ATTN/mha/' >>"$tmp/deep.moa"
expect_refused "100,000 parentheses" "deep.moa:1:.*error: expression is nested too deeply" $t "$moac" check "$tmp/deep.moa"
awk 'BEGIN { s = ""; for (i = 0; i < 100000; i++) s = s "["; printf "let x = %s1", s;
             s = ""; for (i = 0; i < 100000; i++) s = s "]"; print s }' >"$tmp/deep.moa"
echo "$model" | sed 's/ATTN/mha/' >>"$tmp/deep.moa"
expect_refused "100,000 brackets" "error: expression is nested too deeply" $t "$moac" check "$tmp/deep.moa"
# A chain of 100,000 lets, each defined by the next: too deep to evaluate, said once.
awk 'BEGIN { for (i = 0; i < 99999; i++) printf "let v%d = v%d + 1\n", i, i + 1; print "let v99999 = 1" }' >"$tmp/chain.moa"
echo "$model" | sed 's/ATTN/mha/' >>"$tmp/chain.moa"
expect_refused "a chain of 100,000 lets" "error: this value is nested too deeply through names (more than 2000 levels" \
  $t "$moac" check "$tmp/chain.moa"
[ "$(grep -c 'error:' "$tmp/err")" -eq 1 ] || fail "a chain of lets: more than one error"
# The same chain in definition order is fine: each let is evaluated once.
awk 'BEGIN { print "let v0 = 1"; for (i = 1; i < 100000; i++) printf "let v%d = v%d + 1\n", i, i - 1 }' >"$tmp/chain.moa"
echo "$model" | sed 's/ATTN/mha/' >>"$tmp/chain.moa"
expect_rc 0 $t "$moac" check "$tmp/chain.moa"
# Mixtures that double through lets: 2^40 parts without a bound.
awk 'BEGIN { print "let a0 = mha"; for (i = 1; i <= 40; i++) printf "let a%d = mean(a%d, a%d)\n", i, i - 1, i - 1 }' >"$tmp/dag.moa"
echo "$model" | sed 's/ATTN/a40/' >>"$tmp/dag.moa"
expect_refused "mixtures doubling through lets" "error: the attention has more than 1024 parts" $t "$moac" check "$tmp/dag.moa"
finish
