#!/bin/sh
# Faults in the run directory lose nothing and are never silent. Each injects the fault and
# checks the message, the exit status, and that the last good checkpoint is unchanged, byte for
# byte: metrics.jsonl on a full device, two runs in one --out at once, a file size limit below
# the checkpoint's size (SIGXFSZ), and temporary files left by a run killed mid-write.
. "$(dirname "$0")/lib.sh"

cat >"$tmp/micro.moa" <<'SPEC'
model micro {
  vocab = 53  context = 16  width = 32  layers = 1  heads = 2
  attention = mha()
}
train {
  data = synthetic(pairs = 3, layout = separate)  batch = 4  steps = 8  eval_every = 4  eval_batches = 1
}
SPEC
spec=$tmp/micro.moa
expect_rc 0 "$moac" train "$spec" --out "$tmp/a" --until 2 --quiet
ck=$tmp/a/ckpt.safetensors
cp "$ck" "$tmp/good"
unchanged() { cmp -s "$ck" "$tmp/good" || fail "$1: the last good checkpoint changed"; }
no_tmp() { [ -z "$(ls "$1" | grep 'tmp-')" ] || fail "$2: a temporary file was left in $1"; }

# metrics.jsonl on a full device: a checked write, exit 1, no "done", the checkpoint kept.
if [ -w /dev/full ]; then
  mv "$tmp/a/metrics.jsonl" "$tmp/metrics.saved"
  ln -s /dev/full "$tmp/a/metrics.jsonl"
  expect_rc 1 "$moac" train "$spec" --out "$tmp/a" --resume "$ck" --quiet
  grep -q "metrics.jsonl: error: cannot write metrics (No space left on device); training stopped at step 3 without another checkpoint: $ck is unchanged at step 2; fix that and continue with --resume" "$tmp/err" ||
    { fail "full metrics device: message"; sed 's/^/  /' "$tmp/err" | head -n 3; }
  grep -q "done" "$tmp/err" && fail "full metrics device: says done"
  unchanged "full metrics device"
  no_tmp "$tmp/a" "full metrics device"
  rm "$tmp/a/metrics.jsonl"
  mv "$tmp/metrics.saved" "$tmp/a/metrics.jsonl"
  # a new run whose directory already has metrics.jsonl -> /dev/full
  mkdir "$tmp/n"
  ln -s /dev/full "$tmp/n/metrics.jsonl"
  expect_rc 1 "$moac" train "$spec" --out "$tmp/n"
  grep -q "metrics.jsonl: error: cannot write metrics (No space left on device); training stopped at step 1, and this run wrote no checkpoint" "$tmp/err" ||
    fail "new run, full metrics device: message"
  grep -q "done" "$tmp/err" && fail "new run, full metrics device: says done"
  [ ! -e "$tmp/n/ckpt.safetensors" ] || fail "new run, full metrics device: wrote a checkpoint"
else
  echo "skipping the full-device checks: no writable /dev/full"
fi

# Two runs in one --out: the second is refused at once, naming the directory and the pid.
sed 's/steps = 8 /steps = 100000 /; s/eval_every = 4/eval_every = 100000/' "$spec" >"$tmp/long.moa"
"$moac" train "$tmp/long.moa" --out "$tmp/a" --resume "$ck" --steps 100000 --quiet 2>"$tmp/long.err" &
pid=$!
i=0
while [ "$i" -lt 400 ] && ! grep -q '"step":4,' "$tmp/a/metrics.jsonl" 2>/dev/null; do sleep 0.05; i=$((i + 1)); done
grep -q '"step":4,' "$tmp/a/metrics.jsonl" || fail "the long run did not start"
expect_rc 1 timeout 20 "$moac" train "$tmp/long.moa" --out "$tmp/a" --resume "$ck" --steps 100000 --quiet
grep -q "^$tmp/a: error: another moac train (pid $pid) is running in this directory; wait for it to finish (or stop it), or pass another --out" "$tmp/err" ||
  { fail "second --resume: lock message"; sed 's/^/  /' "$tmp/err" | head -n 3; }
expect_rc 1 timeout 20 "$moac" train "$spec" --out "$tmp/a" --quiet
grep -q "(pid $pid) is running in this directory" "$tmp/err" || fail "second new run: lock message"
# kill -9 releases the lock (the kernel drops it with the process); the checkpoint is untouched
kill -9 "$pid"
wait "$pid" 2>/dev/null
unchanged "two runs at once"
expect_rc 0 timeout 60 "$moac" train "$spec" --out "$tmp/a" --resume "$ck" --until 3 --quiet
cp "$ck" "$tmp/good"

# A file size limit below the checkpoint's size: an error, not a silent SIGXFSZ death.
size=$(wc -c <"$ck")
blocks=$((size / 2048)) # below the size whether the shell counts 512- or 1024-byte blocks
: >"$tmp/a/metrics.jsonl" # the long run's lines would reach the limit first
sh -c "ulimit -f $blocks && exec \"$moac\" train \"$spec\" --out \"$tmp/a\" --resume \"$ck\" --quiet" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 1 ] || fail "file size limit: exit $rc, expected 1 (153 is death by SIGXFSZ)"
grep -q "ckpt.safetensors: error: cannot write (File too large while writing); any earlier file there is unchanged; the file size limit was reached (see ulimit -f)" "$tmp/err" ||
  { fail "file size limit: message"; sed 's/^/  /' "$tmp/err" | head -n 3; }
unchanged "file size limit"
no_tmp "$tmp/a" "file size limit"

# kill -9 during a checkpoint write leaves <ckpt>.tmp-<pid>: the next run in the directory (it
# holds the lock) removes those of dead processes and says so; a live process's file stays.
sh -c 'exit 0' &
dead=$!
wait "$dead"
printf 'partial' >"$tmp/a/ckpt.safetensors.tmp-$dead"
printf 'live' >"$tmp/a/ckpt.safetensors.tmp-$$"
expect_rc 0 "$moac" train "$spec" --out "$tmp/a" --resume "$ck" --until 4 --quiet
grep -q "moac: note: removed $tmp/a/ckpt.safetensors.tmp-$dead, left by process $dead, which ended while writing a checkpoint" "$tmp/err" ||
  fail "stale temporary file: message"
[ ! -e "$tmp/a/ckpt.safetensors.tmp-$dead" ] || fail "stale temporary file: not removed"
[ "$(cat "$tmp/a/ckpt.safetensors.tmp-$$")" = live ] || fail "a live process's temporary file was touched"
finish
