#!/bin/sh
# The README's command examples ("Using it"): the fast ones run exactly as written (moac standing
# for the binary under test), in a scratch directory whose models/ is the repository's, so
# nothing is written into the tree. Slow ones (training a 4-layer model, benchmarks) are listed
# with the test that covers them instead. Every `moac` line of the README must be in one list
# or the other, so a new example is not left unrun by accident.
. "$(dirname "$0")/lib.sh"
root=$(pwd)
case $moac in /*) ;; *) moac=$root/$moac ;; esac
readme="$root/README.md"
mkdir "$tmp/w" && ln -s "$root/models" "$tmp/w/models" || fail "scratch directory"

run_as_written='moac check models/moas.moa
moac check --json models/moas.moa
moac ir models/mixsga.moa
moac ir models/moas.moa --print-after-all
moac ir --train models/moas.moa
moac ir models/moas.moa --train --summary
moac ir models/mha.moa --format=dot
moac ir saved.ir
moac emit models/mha.moa --asm --kernel n10_
moac emit models/mha.moa --ptx --train'
# The README's line "moac --help, moac <command> --help, moac --version", spelled out.
help='moac --help
moac check --help
moac plot --help
moac --version'
# Covered elsewhere (too slow to run as written here, or needing a GPU: tests/cli/test_ptx.sh
# and scripts/gpu-check.sh).
elsewhere='moac train models/recall-tiny.moa
moac train models/moas.moa --data input.txt --out runs/moas
moac train models/moas.moa --resume runs/moas/ckpt.safetensors
moac train models/moas.moa --backend interp --batch 2 --steps 3
moac eval models/moas.moa --ckpt runs/moas/ckpt.safetensors
moac generate models/recall-tiny.moa --ckpt runs/recall-tiny/ckpt.safetensors --prompt "c7a0mBd3;m" --temperature 0
moac generate models/moas.moa --ckpt runs/moas/ckpt.safetensors --prompt "ROMEO:" --tokens 300
MOAC_PROFILE=1 moac train models/moas.moa --steps 5
MOAC_PASSES=+fuse_projections,+concat_pads moac train models/moas.moa
moac train models/moas.moa --backend cuda
moac verify models/moas.moa --train --backend cuda --against cpu
moac plot runs/mha runs/moas -o plot.svg
moac export models/moas.moa --ckpt runs/moas/ckpt.safetensors --pytorch runs/moas/pytorch
moac train models/mha.moa --steps 120 --batch 2 --out runs/mha
moac train models/moas.moa --steps 120 --batch 2 --out runs/moas
moac plot runs/mha runs/moas -o docs/img/plot-example.svg
moac --help, moac <command> --help, moac --version'

# Each README line that runs moac, without its trailing comment, pipes and redirections.
sed -n '/^```sh$/,/^```$/p' "$readme" | grep -E '^(MOAC_[A-Z]+=[^ ]+ )?moac ' |
  sed -e 's/  *#.*$//' -e 's/ *|.*$//' -e 's/ *$//' >"$tmp/lines"
[ "$(wc -l <"$tmp/lines")" -ge 15 ] || fail "found only $(wc -l <"$tmp/lines") moac commands in README.md"
while IFS= read -r line; do
  printf '%s\n' "$run_as_written" | grep -qxF -- "$line" && continue
  printf '%s\n' "$elsewhere" | grep -qxF -- "$line" && continue
  fail "README command not run by any test; add it to tests/cli/test_readme.sh: $line"
done <"$tmp/lines"
printf '%s\n' "$run_as_written" | while IFS= read -r c; do
  grep -qxF -- "$c" "$tmp/lines" || echo "$c"
done >"$tmp/stale"
[ -s "$tmp/stale" ] && fail "not in README.md any more: $(cat "$tmp/stale")"

cd "$tmp/w" || exit 1
"$moac" ir models/mha.moa >saved.ir || fail "writing saved.ir"
printf '%s\n%s\n' "$run_as_written" "$help" | while IFS= read -r c; do
  # shellcheck disable=SC2086 # the command's words, as written
  set -- ${c#moac }
  echo "  $c"
  if ! timeout 60 "$moac" "$@" >"$tmp/out" 2>"$tmp/err"; then
    echo "FAIL: '$c' exited non-zero: $(head -c 300 "$tmp/err")"
    echo x >>"$tmp/failed"
  elif [ ! -s "$tmp/out" ]; then
    echo "FAIL: '$c' printed nothing"
    echo x >>"$tmp/failed"
  fi
done
[ -f "$tmp/failed" ] && failures=$((failures + $(wc -l <"$tmp/failed")))
cd "$root" || exit 1
# Where the slow ones are covered: recall-tiny training (test_recall.sh), --data/--resume/eval
# (test_train.sh), the interpreter backend (test_train.sh, test_rope.sh), generate
# (test_generate.sh), MOAC_PROFILE (test_train.sh), MOAC_PASSES (test_ir.sh, test_fusion), plot and the runs of its example picture
# (test_plot.sh trains two short runs and plots them), export and its python3 check
# (test_export.sh).
finish
