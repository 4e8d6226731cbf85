#!/bin/sh
# Fused against unfused, in one run: each model's training step with moac's optional fusion passes
# turned on (MOAC_PASSES, cli/env.c) and with its defaults, runs alternating so that the machine's
# drift falls on both alike. Prints, per model, the median step time of each (tokens/s of the
# steps after the first, from metrics.jsonl), the ratio fused / unfused and the kernel count of
# each training graph (`moac check --json`'s kernels figure is the forward's; this is the
# training graph's, from MOAC_DEBUG's line).
#
#   sh bench/fusion.sh [MOAC] [MODELS] [STEPS] [ROUNDS] [BATCH]
#
# MOAC: the binary (default build-release/moac); MODELS: comma list of models/<name>.moa
# (default moas,mha,moas-hard,mixsga); STEPS per run (default 6); ROUNDS of each (default 3);
# BATCH: --batch for every model ("" for the specs' own). PASSES (env): MOAC_PASSES for "fused"
# (default +fuse_projections,+concat_pads); "unfused" turns the same passes off.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
moac=${1:-$root/build-release/moac}
models=${2:-moas,mha,moas-hard,mixsga}
steps=${3:-6}
rounds=${4:-3}
batch=${5:-}
passes=${PASSES:-+fuse_projections,+concat_pads}
off=$(echo "$passes" | tr '+' '-')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "moac: $("$moac" --version | head -1); fused: MOAC_PASSES=$passes, unfused: MOAC_PASSES=$off; $steps steps x $rounds rounds"
printf '%-16s %12s %12s %8s %9s %9s\n' model fused_us unfused_us ratio kernels kernels_u
for m in $(echo "$models" | tr ',' ' '); do
  spec="$root/models/$m.moa"
  : >"$tmp/fused" ; : >"$tmp/unfused"
  for r in $(seq "$rounds"); do
    for mode in fused unfused; do
      sel=$passes; [ $mode = unfused ] && sel=$off
      rm -rf "$tmp/out"
      MOAC_PASSES=$sel "$moac" train "$spec" --steps "$steps" ${batch:+--batch "$batch"} \
        --out "$tmp/out" >"$tmp/log.$mode" 2>&1
      # seconds per step = tokens per step / tokens per second, steps 2.. (step 1 warms up)
      python3 - "$tmp/out/metrics.jsonl" "$spec" >>"$tmp/$mode" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if "tokens_per_s" in r][1:]
for r in rows: print(1.0 / r["tokens_per_s"])
PY
      # the first graph compiled is the training graph
      grep -o '[0-9]* kernels' "$tmp/log.$mode" | head -1 | cut -d' ' -f1 >"$tmp/k.$mode" || :
    done
  done
  python3 - "$tmp" "$m" <<'PY'
import statistics, sys
tmp, m = sys.argv[1], sys.argv[2]
med = {k: statistics.median(float(x) for x in open(f"{tmp}/{k}")) for k in ("fused", "unfused")}
kern = {k: (open(f"{tmp}/k.{k}").read().strip() or "?") for k in ("fused", "unfused")}
print(f"{m:<16} {med['fused']*1e6:12.1f} {med['unfused']*1e6:12.1f} {med['fused']/med['unfused']:8.3f} "
      f"{kern['fused']:>9} {kern['unfused']:>9}")
PY
done
echo "(us per token of a training step: the median over the runs' steps after the first; kernels: the training graph's)"
