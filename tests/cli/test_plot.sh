#!/bin/sh
# moac plot: two real short runs (MHA and dynamic MoAS, on text) drawn overlaid in one SVG. The
# picture must be well-formed XML (tests/cli/svg_summary.py parses it) with a training-loss line
# per run of as many points as steps, a validation line, both labels in the legend, a gate-share
# panel per layer of the MoAS run, and the same bytes every time. Then the run directories a
# real life leaves: a last line cut short (warned, left out), a malformed line (file:line), nan
# (warned, left out), a run resumed over logged steps, a single step, an empty file, a missing
# directory; metrics of other schemes (mixSGA shares, MoSA scores with more heads than colours);
# and the command line (-o, --log, --smooth, a .png refused with a way to convert).
. "$(dirname "$0")/lib.sh"
case $moac in /*) ;; *) moac=$(pwd)/$moac ;; esac
summary() { /usr/bin/python3 "$(dirname "$0")/svg_summary.py" "$@"; }
data=tests/data/shakespeare-256k.txt
steps=12

for m in mha moas; do
  expect_rc 0 "$moac" train "tests/specs/tiny-$m.moa" --data "$data" --steps $steps --out "$tmp/$m" --quiet
done
expect_rc 0 "$moac" plot "$tmp/mha" "$tmp/moas" -o "$tmp/both.svg"
grep -q "wrote $tmp/both.svg: 2 runs" "$tmp/err" || fail "no summary line: $(cat "$tmp/err")"
summary "$tmp/both.svg" >"$tmp/sum" || fail "the picture is not well-formed XML"
# lm_loss where the run has auxiliary losses (moas), loss where it has none (mha)
for want in "line train mha loss $steps" "line train moas lm_loss $steps" "line val mha eval.val_loss 1" \
            "line val moas eval.val_loss 1" "legend mha" "legend moas" "legend training" "legend validation" \
            "panel - loss" "panel - lr" "panel - grad_norm" "panel moas h0.attn.gates" "panel moas h1.attn.gates" \
            "panel moas h0.attn.balance" "title moac plot: mha, moas"; do
  grep -qxF "$want" "$tmp/sum" || fail "the picture lacks '$want'"
done
[ "$(grep -c '^line train ' "$tmp/sum")" -eq 2 ] || fail "not one training-loss line per run: $(grep '^line train' "$tmp/sum")"
[ "$(grep -c '^line share moas h0.attn.gates 12$' "$tmp/sum")" -eq 3 ] || fail "not a line per MoAS branch in layer 0"
grep -q '^panel mha ' "$tmp/sum" && fail "the MHA run has routing panels"
# deterministic: the same runs give the same bytes, wherever the picture goes
expect_rc 0 "$moac" plot "$tmp/mha" "$tmp/moas" -o "$tmp/again.svg"
cmp -s "$tmp/both.svg" "$tmp/again.svg" || fail "two pictures of the same runs differ"
"$moac" plot "$tmp/mha" "$tmp/moas" -o - >"$tmp/stdout.svg" 2>/dev/null || fail "-o - failed"
cmp -s "$tmp/both.svg" "$tmp/stdout.svg" || fail "-o - writes another picture"
# default: plot.svg in the current directory; a metrics file is a run too
mkdir "$tmp/w"
(cd "$tmp/w" && "$moac" plot ../mha/metrics.jsonl >/dev/null 2>&1) || fail "plot of a metrics file failed"
[ -s "$tmp/w/plot.svg" ] || fail "no plot.svg in the current directory"
summary "$tmp/w/plot.svg" | grep -qxF "legend mha" || fail "a metrics file is not labelled by its directory"
# --log and --smooth: each training line faint behind its moving average
expect_rc 0 "$moac" plot "$tmp/mha" "$tmp/moas" --log --smooth 5 -o "$tmp/smooth.svg"
summary "$tmp/smooth.svg" >"$tmp/sum" || fail "--smooth: not well-formed XML"
grep -qxF "line raw mha loss $steps" "$tmp/sum" || fail "--smooth: no faint line of each step"
grep -qxF "line train mha loss $steps" "$tmp/sum" || fail "--smooth: no average"
grep -q "^panel - loss" "$tmp/sum" || fail "--log: no loss panel"
cmp -s "$tmp/both.svg" "$tmp/smooth.svg" && fail "--log --smooth changed nothing"

# A run killed while writing a line: the cut line is left out, with a warning naming it.
cp -r "$tmp/mha" "$tmp/torn"
printf '{"step":13,"loss":4.1,"lr":0.0' >>"$tmp/torn/metrics.jsonl"
lines=$(wc -l <"$tmp/torn/metrics.jsonl")
expect_rc 0 "$moac" plot "$tmp/torn" -o "$tmp/torn.svg"
grep -q "torn/metrics.jsonl:$((lines + 1)):[0-9]*: warning: the last line is cut short" "$tmp/err" ||
  fail "torn line not warned about: $(cat "$tmp/err")"
summary "$tmp/torn.svg" | grep -qxF "line train torn loss $steps" || fail "torn: the whole lines are not all drawn"
# A malformed line elsewhere is an error at its file:line:col, and nothing is written.
cp -r "$tmp/mha" "$tmp/bad"
sed -i '3s/"loss":/"loss":,/' "$tmp/bad/metrics.jsonl"
expect_rc 1 "$moac" plot "$tmp/mha" "$tmp/bad" -o "$tmp/bad.svg"
grep -q "bad/metrics.jsonl:3:[0-9]*: error: not a line of metrics" "$tmp/err" || fail "malformed line: $(cat "$tmp/err")"
[ -e "$tmp/bad.svg" ] && fail "a picture was written despite the error"
# nan and inf (a diverged run; printf's words, not JSON): those points are left out, warned.
cp -r "$tmp/mha" "$tmp/nan"
sed -i -e '5s/"loss":[^,]*/"loss":nan/' -e '6s/"loss":[^,]*/"loss":-inf/' "$tmp/nan/metrics.jsonl"
expect_rc 0 "$moac" plot "$tmp/nan" -o "$tmp/nan.svg"
grep -q "nan/metrics.jsonl:5:[0-9]*: warning: 'loss' is not a number at step 5" "$tmp/err" || fail "nan: $(cat "$tmp/err")"
summary "$tmp/nan.svg" | grep -qxF "line train nan loss $((steps - 2))" || fail "nan: the finite points are not drawn"
# A run resumed from an earlier checkpoint logs steps again: the later lines win, with a note.
cp -r "$tmp/mha" "$tmp/resumed"
sed -n '/"step":[0-9]*,"loss"/p' "$tmp/mha/metrics.jsonl" | sed -n '5,$p' >>"$tmp/resumed/metrics.jsonl"
expect_rc 0 "$moac" plot "$tmp/resumed" -o "$tmp/resumed.svg"
grep -q "note: the steps go back to 5 here" "$tmp/err" || fail "resumed: $(cat "$tmp/err")"
summary "$tmp/resumed.svg" | grep -qxF "line train resumed loss $steps" || fail "resumed: steps drawn twice"
# A single step: a dot, not an invisible line.
mkdir "$tmp/one" && head -n 1 "$tmp/mha/metrics.jsonl" >"$tmp/one/metrics.jsonl"
expect_rc 0 "$moac" plot "$tmp/one" -o "$tmp/one.svg"
summary "$tmp/one.svg" | grep -qxF "circle" || fail "a single step is not drawn"
# An empty metrics file (a run that has not finished a step) is left out; alone, nothing to plot.
mkdir "$tmp/empty" && : >"$tmp/empty/metrics.jsonl"
expect_rc 0 "$moac" plot "$tmp/mha" "$tmp/empty" -o "$tmp/empty.svg"
grep -q "empty/metrics.jsonl: warning: has no metrics yet" "$tmp/err" || fail "empty run: $(cat "$tmp/err")"
expect_rc 1 "$moac" plot "$tmp/empty" -o "$tmp/empty.svg"
grep -q "nothing to plot" "$tmp/err" || fail "only an empty run: $(cat "$tmp/err")"
# No such directory; a directory that is no run.
expect_rc 1 "$moac" plot "$tmp/mha" "$tmp/missing" -o "$tmp/x.svg"
grep -q "missing: error: no such run directory" "$tmp/err" || fail "missing dir: $(cat "$tmp/err")"
expect_rc 1 "$moac" plot tests/specs
grep -q "specs: error: has no metrics.jsonl" "$tmp/err" || fail "not a run dir: $(cat "$tmp/err")"

# Other schemes' metrics, as moac train names them: mixSGA's expert shares with its consistency
# loss, MoSA's selection scores (12 heads: more than the colours, so a mean and a band).
mkdir "$tmp/mix"
/usr/bin/python3 - "$tmp/mix/metrics.jsonl" <<'PY' || fail "could not write the mixture metrics"
import json, sys
with open(sys.argv[1], "w") as f:
    for s in range(1, 9):
        m = {"step": s, "loss": 5.0 - 0.1 * s, "lr": 3e-4}
        for l in range(2):
            m["h%d.attn.kv.shares" % l] = [0.3, 0.1, 0.6]
            m["h%d.attn.kv.consistency" % l] = 0.7 - 0.01 * s
            m["h%d.attn.sparse.selected_score" % l] = [0.6 + 0.01 * h for h in range(12)]
            m["h%d.attn.sparse.mean_score" % l] = [0.5] * 12
        m["lm_loss"] = 4.9 - 0.1 * s
        f.write(json.dumps(m, separators=(",", ":")) + "\n")
PY
expect_rc 0 "$moac" plot "$tmp/moas" "$tmp/mix" -o "$tmp/mix.svg"
summary "$tmp/mix.svg" >"$tmp/sum" || fail "mixtures: not well-formed XML"
for want in "panel mix h0.attn.kv.shares" "panel mix h1.attn.kv.shares" "panel mix h0.attn.kv.consistency" \
            "panel mix h1.attn.sparse.selected_score" "band mix h1.attn.sparse.selected_score" \
            "band mix h1.attn.sparse.mean_score" "line share mix h1.attn.sparse.mean_score 8" \
            "legend expert 2" "panel moas h1.attn.gates"; do
  grep -qxF "$want" "$tmp/sum" || fail "mixtures: the picture lacks '$want'"
done
grep -q '^panel mix h0.attn.sparse.mean_score' "$tmp/sum" && fail "mean_score has panels of its own"

# The command line.
expect_rc 2 "$moac" plot "$tmp/mha" -o "$tmp/p.png"
grep -q "writes SVG only" "$tmp/err" && grep -q "rsvg-convert -o $tmp/p.png $tmp/p.svg" "$tmp/err" ||
  fail ".png: $(cat "$tmp/err")"
expect_rc 2 "$moac" plot
expect_rc 2 "$moac" plot "$tmp/mha" --smooth 0
expect_rc 2 "$moac" plot "$tmp/mha" --smooth
expect_rc 2 "$moac" plot "$tmp/mha" --colour
grep -q "unknown option '--colour'" "$tmp/err" || fail "unknown option: $(cat "$tmp/err")"
expect_rc 0 "$moac" plot --help
grep -q "usage: moac plot" "$tmp/out" || fail "plot --help"
expect_rc 1 "$moac" plot "$tmp/mha" -o "$tmp"
grep -q "is a directory" "$tmp/err" || fail "-o DIR: $(cat "$tmp/err")"
finish
