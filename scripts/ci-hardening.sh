#!/usr/bin/env bash
# CI's second pass, after the README's test command: the whole test suite again under
# AddressSanitizer + UndefinedBehaviorSanitizer (leaks included), then a short fuzz run of every
# parser on its seed corpus, then a compile check of the examples and benchmarks (which the test
# command does not build). Built with clang, which compiles the sanitized suite in half the time
# gcc takes, with line tables only (-g1: full debug info costs a fifth more time for the same
# stack traces), and only the library's test programs (target deephash_tests): not the deephash
# command and its tests (a thin layer over the library API, whose code the sanitized suites and
# the fuzzers run; in the plain build the command's tests run), nor the Python module (see
# docs/ARCHITECTURE.md). The sanitized tests run as many at a time as there are cores (each is a
# process of its own, with temporary files of its own).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh --hardening
# Built with Ninja; trees that another generator configured are configured afresh.
for tree in build-asan build-check; do
  grep -qs '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$tree/CMakeCache.txt" || rm -rf "$tree"
done
CXX=clang++ cmake -G Ninja -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG= -DDEEPHASH_CUDA=OFF -DDEEPHASH_BUILD_BENCH=OFF \
      -DDEEPHASH_BUILD_EXAMPLES=OFF -DDEEPHASH_PYTHON=OFF \
      -DCMAKE_CXX_FLAGS="-O1 -g1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
      -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined"
cmake --build build-asan -j"$(nproc)" --target deephash_tests
# The shipped models' scores and the baselines' scores on real data run the same code as the rest
# of the suite, over thousands of images (or 60,000): the plain test command runs them, the
# sanitized pass leaves them out (the real files' parsing stays in: test_data's and
# test_sources_real's cases), and the find_package test too (it installs and builds an outside
# project, with no sanitizer).
# The MPI tests (label mpi) run sanitized too, at 3 ranks (uneven slices; the plain pass runs 2
# and 3), but without leak detection: Open MPI's plugins leak at MPI_Finalize and are unloaded
# before LeakSanitizer can name them, so no suppression can single them out. Our code under them
# is leak-checked by the other suites.
# The command's tests and the Python tests, which this tree does not build (they report skipped
# here), are left out too. The entries that skip are listed, and any that should have run fails.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:check_initialization_order=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j"$(nproc)" \
        -E '^test_shipped_models:|^test_baselines:|^test_mih_scale:|^find_package_consumer$|^test_cli$|^test_mpi_cli$|^python_tests' -LE mpi | tee "$log"
./scripts/check-skipped.sh "$log" "the sanitized tests"
ASAN_OPTIONS=detect_leaks=0:strict_string_checks=1:check_initialization_order=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -L mpi -E '_2$|^test_mpi_cli$' | tee "$log"
./scripts/check-skipped.sh "$log" "the sanitized MPI tests"
# Five seconds a parser: every seed input, then mutations of them (thousands to a hundred
# thousand runs). `scripts/fuzz.sh 600` is the long run.
./scripts/fuzz.sh "${DEEPHASH_CI_FUZZ_SECONDS:-5}"
# The examples and benchmarks compile (clang at -O0, nothing run: what they call is tested above).
CXX=clang++ cmake -G Ninja -S . -B build-check -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS=-O0 -DDEEPHASH_CUDA=OFF -DDEEPHASH_PYTHON=OFF \
      -DDEEPHASH_BUILD_TESTS=OFF >/dev/null
cmake --build build-check -j"$(nproc)" --target deephash_examples deephash_benchmarks
