#!/usr/bin/env bash
# Installs what deephash needs to build, test and run its main job, from Debian/Ubuntu packages.
# Idempotent: packages already present are left alone, and apt is not touched when none is missing.
# Works as root or through sudo. With --hardening, also clang's libFuzzer runtime (for
# scripts/fuzz.sh and CI's sanitizer pass); with --anchors, PyTorch (the speed anchor of
# bench/compare_cnn.sh; large, and never needed to build or test).
set -euo pipefail

packages=(
  g++ cmake make pkg-config        # toolchain
  clang ninja-build                # the tests' build: clang compiles this code faster than g++
  libeigen3-dev libxsimd-dev       # the library: linear algebra, portable SIMD
  libstb-dev                       # image decoding and PNG writing
  doctest-dev libbenchmark-dev     # tests and micro-benchmarks
  dataset-fashion-mnist            # the real data of the main job and the tests
  libopencv-dnn-dev                # an independent Caffe reader: the oracle of our importer's tests
  protobuf-compiler                # protoc --encode / --decode: binary Caffe fixtures for the tests
  python3-faiss                    # FAISS itself reads our FAISS-format index files in the tests
  libopenmpi-dev openmpi-bin       # deephash::mpi: jobs of several processes (mpirun), and its tests
  pybind11-dev python3-dev python3-numpy python3-pytest  # the Python module (import deephash), its tests
)
case "${1:-}" in
  --hardening) packages+=(libclang-rt-dev) ;;  # libFuzzer for the fuzz targets
  --anchors) packages+=(python3-torch) ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages are installed"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null; then
  as_root=(sudo)
else
  echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
