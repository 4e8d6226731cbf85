#!/bin/sh
# Builds the fuzz seed corpus from the repository's own files (tests/fuzz/README.md):
#   seeds.sh MOAC OUTDIR
# OUTDIR/spec         models/*.moa, tests/specs/*.moa and ckpt-model.moa, each bundled with
#                     the files it includes ("#@file NAME" lines); all must be accepted
# OUTDIR/spec-errors  tests/diag/*.moa (the golden diagnostics: refused by design)
# OUTDIR/ir           the golden IR (tests/golden/*.ir) and training graphs of two tiny specs
#                     (moac ir --train), and those scheduled (--print-after=schedule); all
#                     must verify
# OUTDIR/ckpt         a checkpoint of ckpt-model.moa after one step of training on char data
#                     (moac train --backend interp); it must load
set -eu
moac=${1:?usage: seeds.sh MOAC OUTDIR}
out=${2:?usage: seeds.sh MOAC OUTDIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$out"
mkdir -p "$out/spec" "$out/spec-errors" "$out/ir" "$out/ckpt"

# bundle FILE NAME: FILE as "#@file NAME", then every file it includes (recursively, each once)
bundle() {
    printf '#@file %s\n' "$2"
    cat "$1"
    dir=$(dirname "$1") base=$(dirname "$2")
    grep -o '^[[:space:]]*include[[:space:]]*"[^"]*"' "$1" | sed 's/.*"\(.*\)"/\1/' | while read -r inc; do
        case " $seen " in *" $dir/$inc "*) continue ;; esac
        seen="$seen $dir/$inc"
        if [ "$base" = . ]; then name=$inc; else name=$base/$inc; fi
        if [ -f "$dir/$inc" ]; then bundle "$dir/$inc" "$name"; fi
    done
}

for f in "$root"/models/*.moa "$root"/tests/specs/*.moa "$root"/tests/fuzz/ckpt-model.moa; do
    seen=$f bundle "$f" "$(basename "$f")" > "$out/spec/$(basename "$f" .moa)"
done
for f in "$root"/tests/diag/*.moa; do
    seen=$f bundle "$f" "$(basename "$f")" > "$out/spec-errors/$(basename "$f" .moa)"
done

cp "$root"/tests/golden/*.ir "$out/ir/"
for f in "$root"/tests/fuzz/ckpt-model.moa "$root"/tests/specs/tiny-moas.moa; do
    "$moac" ir --train --batch=1 "$f" > "$out/ir/train-$(basename "$f" .moa).ir"
    "$moac" ir --train --batch=1 --print-after=schedule "$f" > "$out/ir/sched-$(basename "$f" .moa).ir"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'abcab abca cabba bacab abcab cabac abcab bacca abcab baca abab cab ' > "$tmp/data.txt"
MOAC_CACHE=0 "$moac" train "$root/tests/fuzz/ckpt-model.moa" --backend interp --data "$tmp/data.txt" \
    --steps 1 --quiet --out "$tmp/run" > /dev/null
cp "$tmp/run/ckpt.safetensors" "$out/ckpt/fuzz-ckpt.safetensors"
