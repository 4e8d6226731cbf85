# Shared by the CLI tests (sourced, not a test itself: ctest runs tests/cli/test_*.sh only).
# Usage in a test: . "$(dirname "$0")/lib.sh"; then `expect_rc`, `json_field`, `fail`.
moac=${1:?usage: $0 path/to/moac}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect_rc CODE command...: runs the command, stdout -> $tmp/out, stderr -> $tmp/err.
expect_rc() {
  want=$1; shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  [ "$got" -eq "$want" ] || { fail "'$*' exited $got, expected $want"; sed 's/^/  stderr: /' "$tmp/err" | head -n 20; }
}

# json_field KEY < json: the integer value of "KEY":N
json_field() { grep -o "\"$1\":[0-9]*" | head -n 1 | cut -d: -f2; }

finish() { [ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }; echo ok; }
