#!/bin/sh
# The compile cache does not trust its files: each fault below is injected into the training
# graph's entry (flipped bits and random bytes in the object file, a moved arena offset in the
# schedule, truncated files, an entry copied under another key's name). Every time the run warns
# in one line, recompiles, gives the clean run's losses, and replaces the entry: the next run
# hits the cache without a warning.
. "$(dirname "$0")/lib.sh"
spec=tests/specs/cache-tiny.moa
export MOAC_CACHE_DIR="$tmp/cache"
n=0
run() { # a 2-step run; its stderr in $tmp/err, its metrics in $tmp/run$n
  n=$((n + 1))
  expect_rc 0 "$moac" train "$spec" --steps 2 --out "$tmp/run$n"
}
losses() { grep -o '"loss":[0-9.e-]*' "$tmp/run$n/metrics.jsonl"; }
first_compile() { grep "compiled 'c' for the CPU" "$tmp/err" | head -n 1; }

run
clean=$(losses)
[ -n "$clean" ] || fail "the clean run wrote no losses"
key=$(first_compile | sed -n 's/.*cached as \([0-9a-f]*\)).*/\1/p')
[ -n "$key" ] || fail "no cache key in: $(first_compile)"
other=$(grep "compiled 'c' for the CPU" "$tmp/err" | sed -n '2s/.*cached as \([0-9a-f]*\)).*/\1/p')
obj="$tmp/cache/$key.o" plan="$tmp/cache/$key.plan"
[ -f "$obj" ] && [ -f "$plan" ] || fail "no cache entry $key (.o and .plan)"
run
first_compile | grep -q "compile cache hit $key" || fail "a clean second run missed: $(first_compile)"

# byte_at FILE OFFSET / put_byte FILE OFFSET VALUE (decimal)
byte_at() { od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' '; }
put_byte() { printf "\\$(printf %o "$3")" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null; }
flip() { b=$(byte_at "$1" "$2"); put_byte "$1" "$2" $((b ^ $3)); }

# check_fault WHAT FILE: the run after the damage warns about FILE, recompiles, gives the clean
# losses, and the run after it hits the replaced entry.
check_fault() {
  run
  grep -q "^moac: warning: compile cache entry $2 is damaged (.*); recompiling and replacing it$" "$tmp/err" ||
    fail "$1: no warning: $(head -n 3 "$tmp/err")"
  [ "$(grep -c 'warning' "$tmp/err")" -eq 1 ] || fail "$1: more than one warning line"
  first_compile | grep -q "cache hit" && fail "$1: the damaged entry was used"
  [ "$(losses)" = "$clean" ] || fail "$1: losses $(losses) differ from the clean run's $clean"
  run
  first_compile | grep -q "compile cache hit $key" || fail "$1: the entry was not replaced: $(first_compile)"
  grep -q warning "$tmp/err" && fail "$1: a warning after the entry was replaced: $(grep warning "$tmp/err")"
}

size=$(wc -c <"$obj")
# Single bit flips in the middle of the code and near the end (the section headers).
flip "$obj" $((size / 2)) 1
flip "$obj" $((size - 100)) 128
check_fault "bit flips in the object" "$obj"
# 4 KiB of random bytes over the code.
head -c 4096 /dev/urandom | dd of="$obj" bs=1 seek=$((size / 3)) conv=notrunc 2>/dev/null
check_fault "random bytes in the object" "$obj"
# A moved offset in the schedule: the entry header (64 bytes), the plan header (44), two int32
# per node, then the slot records (40 bytes, the arena offset at +32): the second slot's offset
# moves by 64 bytes, as in the fault-injection run that once gave wrong losses silently.
nodes=$(od -An -tu4 -j $((64 + 20)) -N 4 "$plan" | tr -d ' ')
at=$((64 + 44 + nodes * 8 + 40 + 32))
put_byte "$plan" $at $((($(byte_at "$plan" $at) + 64) % 256))
check_fault "a moved offset in the plan" "$plan"
# Truncated entries (a write cut short) and an appended byte.
truncate -s $((size / 2)) "$obj"
check_fault "a truncated object" "$obj"
truncate -s 100 "$plan"
check_fault "a truncated plan" "$plan"
printf x >>"$obj"
check_fault "a byte appended to the object" "$obj"
# Another key's (valid) entry copied over this one.
if [ -n "$other" ]; then
  cp "$tmp/cache/$other.o" "$obj"
  check_fault "another key's entry" "$obj"
fi
# A stale temporary file of a write that never finished is ignored.
printf 'half' >"$obj.tmp.999999"
run
first_compile | grep -q "compile cache hit $key" || fail "a stale temporary file spoiled the entry"
finish
