#!/bin/sh
# The command line itself: help, version, and misuse (exit 2 with a pointer to --help).
. "$(dirname "$0")/lib.sh"

expect_rc 0 "$moac" --help
grep -q "usage: moac" "$tmp/out" || fail "--help"
expect_rc 0 "$moac" --version
grep -q "^moac [0-9.]* (LLVM 19" "$tmp/out" || fail "--version: $(cat "$tmp/out")"
for cmd in check ir plot export; do
  expect_rc 0 "$moac" $cmd --help
  grep -q "usage: moac $cmd" "$tmp/out" || fail "$cmd --help"
done
expect_rc 2 "$moac"
expect_rc 2 "$moac" chekc models/mha.moa
grep -q "unknown command 'chekc'; did you mean 'check'?" "$tmp/err" || fail "command suggestion"
expect_rc 2 "$moac" check --jsn models/mha.moa
grep -q "unknown option '--jsn'" "$tmp/err" || fail "unknown option"
expect_rc 2 "$moac" check
expect_rc 2 "$moac" check models/mha.moa models/gqa.moa
expect_rc 2 "$moac" ir models/mha.moa --print-after=csee
grep -q "did you mean 'cse'" "$tmp/err" || fail "pass suggestion"
expect_rc 2 "$moac" ir models/mha.moa --format=svg
expect_rc 2 "$moac" ir models/mha.moa --batch=0
expect_rc 2 "$moac" ir models/mha.moa --print-after=cse --print-after-all
finish
