#!/bin/sh
# The tests need nothing outside the repository: a clone with nothing beside it must pass the
# whole suite. This fails if any test source, script or build rule names a path that leaves
# the repo (the team's data folder beside it, the team's absolute workspace path, the source
# root's parent). Benchmarks (bench/) may. The names are assembled so this file does not match.
cd "$(dirname "$0")/../.."
outside="shar""ed" workspace="/wo""rk/"
pattern="\\.\\./$outside|$outside/data|$workspace|MOAC_SOURCE_ROOT *\"/\\.\\."
hits=$(grep -rnE "$pattern" tests CMakeLists.txt scripts/test.sh .ci 2>/dev/null)
if [ -n "$hits" ]; then
    echo "tests must not read outside the repository; keep what they need under tests/data/:"
    echo "$hits"
    exit 1
fi
echo "no test reads outside the repository"
