#!/usr/bin/env bash
# Installs what the build needs (Debian packages, when root and missing) and builds hymask into
# build/ (binaries in build/bin/). Safe to run again: it only does what is missing.
#   scripts/setup.sh [--tests] [extra cmake arguments]
# --tests also installs what only the test suite uses (scripts/test.sh passes it): a headless
# Chromium and a Slurm with munge, which a machine that only runs hymask does not need.
set -euo pipefail
cd "$(dirname "$0")/.."
with_tests=0
if [ "${1:-}" = "--tests" ]; then
  with_tests=1
  shift
fi

packages=(
  build-essential cmake ccache pkg-config libtorch-dev
  libspdlog-dev libyaml-cpp-dev libcli11-dev nlohmann-json3-dev
  libturbojpeg0-dev libpng-dev zlib1g-dev libgtest-dev
  libopenmpi-dev openmpi-bin libprotobuf-dev protobuf-compiler libssl-dev libboost-dev
  libopenblas0-openmp                      # LibTorch's matrix products: 2.4x faster training than
                                           # the reference BLAS libtorch-dev brings
  libdnnl-dev                              # oneDNN's headers: resnet-s's trunk trains through it
                                           # directly (core/nn/onednn_trunk.h)
  openssl                                  # cluster/tls-certificate.sh: a certificate per run
  iproute2                                 # cluster/: ss (a free port), ip (the node's address)
)
if [ "$with_tests" -eq 1 ]; then
  packages+=(
    chromium                               # tests/dashboard_test.sh: the console in a browser
    slurmctld slurmd slurm-client munge    # tests/slurm_test.sh: the job scripts on a real Slurm
    python3-numpy                          # tests/verification_bin_test.sh: .bin sets as NumPy
                                           # arrays
  )
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

jobs=$(nproc 2>/dev/null || echo 2)
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@"
elif [ $# -gt 0 ]; then
  cmake build "$@"
fi
cmake --build build -j"$jobs"
