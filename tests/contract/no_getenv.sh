#!/bin/sh
# The library reads no environment variable: the `moac` command does (cli/env.c) and hands the
# settings over as options (moac_compile_opts, moac_pipeline.log), so a program using the
# library is steered only by what it passes. Fails on any getenv (or secure_getenv, environ)
# in the library's folders.
cd "$(dirname "$0")/../.."
hits=$(grep -rnE "\\b(secure_)?getenv\\b|\\benviron\\b" backends passes runtime ir frontend support 2>/dev/null)
if [ -n "$hits" ]; then
    echo "library code must not read the environment; take it as an option the CLI fills (cli/env.c):"
    echo "$hits"
    exit 1
fi
echo "no getenv in the library"
