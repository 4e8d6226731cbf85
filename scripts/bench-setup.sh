#!/bin/sh
# Installs the peers that bench/train_step.py times moac against. Safe to run again.
#   - PyTorch eager (Debian python3-torch, run with /usr/bin/python3; scripts/setup.sh installs it)
#     and OpenBLAS to back it: without libopenblas0, Debian's torch calls the reference BLAS
#     (libblas3), about 50x slower, and the comparison would mean nothing.
#   - JAX (jax[cpu]) and tinygrad from PyPI, for the `python3` first on PATH (which may be another
#     interpreter than /usr/bin/python3; Debian's own refuses pip installs).
set -eu
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need_apt=""
for pkg in python3-torch python3-numpy libopenblas0-pthread; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt="$need_apt $pkg"
done
if [ -n "$need_apt" ]; then
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends $need_apt
fi

PY=${PYTHON:-python3}
if [ "$(command -v "$PY")" = "/usr/bin/python3" ]; then
  echo "bench-setup: the python3 on PATH is Debian's, where pip may not install; set PYTHON=<interpreter>" >&2
fi
if ! "$PY" -c 'import jax, tinygrad' 2>/dev/null; then
  "$PY" -m pip install 'jax[cpu]' tinygrad
fi

/usr/bin/python3 -c 'import torch; print("pytorch", torch.__version__)'
"$PY" -c 'import jax, tinygrad; print("jax", jax.__version__); from importlib.metadata import version; print("tinygrad", version("tinygrad"))'
