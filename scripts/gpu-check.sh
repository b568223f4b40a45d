#!/usr/bin/env bash
# The GPU check: builds and runs every GPU test and GPU benchmark, and trains a CIFAR-sized
# network on the GPU, in one command; writes a log and a JSON of results.
#
#   scripts/gpu-check.sh prepare [CIFAR]   on a Debian/Ubuntu machine with network access: puts the
#                                          build dependencies (Debian packages, unpacked) and,
#                                          optionally, CIFAR-10 data into .gpu-deps/, so that a
#                                          bare GPU machine without a package registry can build
#   scripts/gpu-check.sh run [OUT]         on the GPU machine (about 5-8 minutes on one H100):
#                                          writes OUT/gpu-check.log and OUT/gpu-check.json
#
# CIFAR is a directory of binary batches (the paper's protocol) or the class-folder archive of the
# training split (held-out queries). .gpu-deps/ is ignored by git.
set -uo pipefail
cd "$(dirname "$0")/.."
deps=$PWD/.gpu-deps

prepare() {
  local cifar=${1:-}
  mkdir -p "$deps/debs" "$deps/root" "$deps/data"
  grep -qx '/.gpu-deps/' .git/info/exclude 2>/dev/null || echo '/.gpu-deps/' >> .git/info/exclude
  (cd "$deps/debs" && apt-get download libeigen3-dev libxsimd-dev libstb-dev libstb0 doctest-dev libbenchmark-dev \
                                    libbenchmark1debian) || { echo "gpu-check: apt-get download failed" >&2; exit 1; }
  for deb in "$deps"/debs/*.deb; do dpkg -x "$deb" "$deps/root"; done
  if [ -n "$cifar" ]; then cp -r "$cifar" "$deps/data/"; fi
  du -sh "$deps"
}

run() {
  local out=${1:-gpu-check-out}
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  exec > >(tee "$out/gpu-check.log") 2>&1
  local start=$SECONDS status=0
  local usr=$deps/root/usr lib=$deps/root/usr/lib/x86_64-linux-gnu
  export LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  nvidia-smi || true
  echo "== configure and build ($(nproc) cores)"
  cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHITECTURES:-90}" \
        -DCMAKE_PREFIX_PATH="$usr" -DEigen3_DIR="$usr/share/eigen3/cmake" -Dxsimd_DIR="$lib/cmake/xsimd" \
        -Ddoctest_DIR="$usr/lib/cmake/doctest" -Dbenchmark_DIR="$lib/cmake/benchmark" \
        -DCMAKE_DISABLE_FIND_PACKAGE_OpenCV=ON -DDEEPHASH_PROGRAMS_CUDA=ON || return 1
  cmake --build build-gpu -j"$(nproc)" --target test_cuda deephash_bench_cuda deephash_bench cifar10_eval || return 1
  echo "== build took $((SECONDS - start)) s"

  echo "== GPU tests: every layer against the CPU, a training step, Hamming search"
  ./build-gpu/tests/test_cuda; local tests=$?
  [ $tests -eq 0 ] || status=1

  echo "== GPU benchmarks"
  ./build-gpu/bench/deephash_bench_cuda --benchmark_format=json --benchmark_out="$out/gpu-bench.json" \
      --benchmark_out_format=json || status=1
  echo "== the CPU index on the same codes, on this machine's cores"
  ./build-gpu/bench/deephash_bench --benchmark_filter='BM_HammingKnn/' --benchmark_format=json \
      --benchmark_out="$out/cpu-search.json" --benchmark_out_format=json || status=1

  local cifar_status="skipped: no CIFAR data in .gpu-deps/data"
  local data
  data=$(ls -d "$deps"/data/* 2>/dev/null | head -1)
  if [ -n "$data" ]; then
    echo "== CIFAR-10: a CIFAR-sized network from scratch on the GPU, 48 bits, 5 minutes at most"
    timeout 330 ./build-gpu/examples/cifar10_eval --data "$data" --train --device cuda --math tf32 --epochs "${CIFAR_EPOCHS:-30}" \
        --batch 128 --lr 0.1 --out "$out/cifar10" && cifar_status=ok || { cifar_status="failed or over time"; status=1; }
  fi

  python3 - "$out" "$tests" "$cifar_status" $((SECONDS - start)) <<'PY' || true
import json, os, sys
out, tests, cifar, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def load(name):
    path = os.path.join(out, name)
    return json.load(open(path)) if os.path.exists(path) else None
verdict = {0: "passed", 77: "skipped: no usable GPU"}.get(tests, f"failed (exit {tests})")
summary = {"test_cuda": verdict, "cifar10": cifar, "seconds": seconds}
gpu, cpu = load("gpu-bench.json"), load("cpu-search.json")
if gpu:
    summary["gpu"] = gpu["context"].get("gpu")
    summary["gpu_benchmarks"] = {b["name"]: {"ms": b["real_time"], "items_per_second": b.get("items_per_second")} for b in gpu["benchmarks"]}
if cpu:
    summary["cpu_search"] = {b["name"]: b.get("items_per_second") for b in cpu["benchmarks"]}
results = load("cifar10/results.json")
if results:
    summary["cifar10_results"] = results
json.dump(summary, open(os.path.join(out, "gpu-check.json"), "w"), indent=1)
print(json.dumps({k: v for k, v in summary.items() if k not in ("gpu_benchmarks", "cpu_search")}, indent=1))
PY
  echo "== gpu-check finished in $((SECONDS - start)) s, status $status"
  return $status
}

case "${1:-run}" in
  prepare) shift; prepare "$@" ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 prepare [CIFAR] | run [OUT]" >&2; exit 2 ;;
esac
