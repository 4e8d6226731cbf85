#!/bin/sh
# The tests need nothing outside the repository: a clone with no ../shared beside it must pass
# the whole suite. This fails if any test source, script or build rule names a path that leaves
# the repo (../shared, the team's data folder, an absolute /work path). Benchmarks (bench/) may.
cd "$(dirname "$0")/../.."
pattern='\.\./shared|shared/data|/work/|MOAC_SOURCE_ROOT *"/\.\.'
hits=$(grep -rnE "$pattern" tests CMakeLists.txt scripts/test.sh .ci 2>/dev/null |
       grep -v '^tests/contract/self_contained.sh:' | grep -v '^tests/data/README.md:')
if [ -n "$hits" ]; then
    echo "tests must not read outside the repository; keep what they need under tests/data/:"
    echo "$hits"
    exit 1
fi
echo "no test reads outside the repository"
