#!/bin/sh
# Times two moac binaries against each other on the same machine, in one run: the training step
# of each model (bench/train_step.py, moac only) in alternating rounds, each binary with its own
# compile cache emptied first, and the compile time of a cache miss and a hit.
#
#   sh bench/compare_binaries.sh OLD NEW OUTDIR [ROUNDS] [THREADS] [MODELS]
#
# For a change that should not move the step (a refactor): the per-round medians of both and
# their ratio new/old; two rounds of the same binary differing by more than the ratio is noise.
# For a machine with no LLVM (the lent benchmark hosts), build each binary with
# `cmake -DMOAC_LLVM_STATIC=ON -DMOAC_TESTS=OFF`, strip it and carry it xz-compressed (12.5 MB).
set -eu
old=$1 new=$2 out=$3 rounds=${4:-2} threads=${5:-1} models=${6:-mha,moas}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
for v in old new; do
  bin=$old; [ "$v" = new ] && bin=$new
  rm -rf "$out/cache-$v"
  mkdir -p "$out/cache-$v"
  # Compile: a miss, then a hit, of the largest model (the line moac prints says how long).
  for pass in miss hit; do
    MOAC_CACHE_DIR="$out/cache-$v" MOAC_THREADS=$threads "$bin" train "$root/models/moas.moa" --steps 1 \
      --out "$out/run-$v-$pass" 2>&1 | grep "^compiled" | sed "s/^/$v $pass: /" | tee -a "$out/compile.txt"
  done
done
r=1
while [ "$r" -le "$rounds" ]; do
  for v in old new; do
    bin=$old; [ "$v" = new ] && bin=$new
    MOAC_CACHE_DIR="$out/cache-$v" python3 "$root/bench/train_step.py" --models "$models" --peers none \
      --moac "$bin" --threads "$threads" --steps 12 --json "$out/$v-$r.json" >"$out/$v-$r.txt" 2>&1
  done
  r=$((r + 1))
done
python3 - "$out" "$rounds" "$models" <<'PY'
import json, sys
out, rounds, models = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
print(f"{'model':8} {'round':>5} {'old s':>8} {'new s':>8} {'new/old':>8}")
for m in models:
    for r in range(1, rounds + 1):
        t = {v: json.load(open(f"{out}/{v}-{r}.json"))["results"][m]["systems"]["moac"]["median_s"] for v in ("old", "new")}
        print(f"{m:8} {r:5} {t['old']:8.3f} {t['new']:8.3f} {t['new'] / t['old']:8.3f}")
PY
