#!/bin/sh
# Installs what moac needs to build and test on Debian 12 (bookworm).
# Run as root (or with sudo available). Safe to run again. clang-19 and libclang-rt-19-dev
# (libFuzzer and the sanitizer runtimes) build the fuzz harnesses: scripts/fuzz.sh.
set -eu
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends \
  build-essential cmake flex bison llvm-19-dev libcmocka-dev zlib1g-dev libzstd-dev \
  clang-19 libclang-rt-19-dev \
  python3 python3-numpy python3-torch
