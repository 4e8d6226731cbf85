#!/bin/sh
# The library is usable without the CLI and from an install alone: installs the build into a
# fresh prefix inside the build tree, compiles examples/train_steps.c with only that prefix's
# headers and libraries (plus LLVM's), and runs it (it trains a tiny spec for five steps and
# fails unless the loss falls). A header moac.h reaches but the install rules miss, a library
# they leave out, or a library entry point that needs the CLI fails this test.
#   usage: install_example.sh CMAKE BUILD_DIR SOURCE_DIR CC LLVM_CONFIG [EXTRA_FLAGS]
set -eu
cmake=$1 build=$2 src=$3 cc=$4 llvm_config=$5 extra=${6:-}
prefix="$build/example-install"
rm -rf "$prefix"
"$cmake" --install "$build" --prefix "$prefix" > "$build/example-install.log"
[ -f "$prefix/include/moac.h" ] || { echo "no include/moac.h in the install"; exit 1; }
exe="$build/example-train-steps"
# -I and -L name the prefix only: nothing of the source or build tree is on the paths.
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Wextra -Werror $extra -I "$prefix/include" "$src/examples/train_steps.c" \
    -L "$prefix/lib" -lmoac -lmoac_generated $("$llvm_config" --ldflags) $("$llvm_config" --link-shared --libs) \
    -lm -lpthread -o "$exe"
"$exe"
