#!/usr/bin/env bash
# Fuzzes every parser with libFuzzer (+ AddressSanitizer, UndefinedBehaviorSanitizer):
#
#   scripts/fuzz.sh [SECONDS] [TARGET ...]
#
# builds the targets with clang in build-fuzz/, writes seed corpora from deephash's own writers,
# and runs each target SECONDS (default 600) on its corpus, one per core at a time. New inputs go to
# build-fuzz/corpus/<target>/, findings to build-fuzz/findings/<target>/; the script fails if any
# target found something. Limits: 2 GB of memory, 10 s per input, 256 MB per allocation.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
# The default list is DEEPHASH_FUZZ_TARGETS in tests/fuzz/CMakeLists.txt; keep the two alike.
[ ${#targets[@]} -gt 0 ] || targets=(index model snapshot idx gzip inflate cifar image tar tar_stream list prototxt caffemodel codes)

# -O1 with line tables only, as libFuzzer's documentation builds its targets: less compile time
# than -O2 -g, and the same stack traces (file and line).
# Ninja builds the targets side by side (make built them one after another); a tree that another
# generator configured is configured afresh, keeping its corpora and findings.
grep -qs '^CMAKE_GENERATOR:INTERNAL=Ninja$' build-fuzz/CMakeCache.txt || rm -rf build-fuzz/CMakeCache.txt build-fuzz/CMakeFiles
CXX=clang++ cmake -G Ninja -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DDEEPHASH_FUZZ=ON -DDEEPHASH_CUDA=OFF \
    -DDEEPHASH_BUILD_BENCH=OFF -DDEEPHASH_BUILD_EXAMPLES=OFF -DDEEPHASH_NATIVE=OFF -DCMAKE_DISABLE_FIND_PACKAGE_OpenCV=ON >/dev/null || exit 1
cmake --build build-fuzz -j"$(nproc)" --target make_fuzz_corpus "${targets[@]/#/fuzz_}" || exit 1
rm -rf build-fuzz/seeds && ./build-fuzz/tests/fuzz/make_fuzz_corpus build-fuzz/seeds >/dev/null || exit 1

run_one() {
  local t=$1
  mkdir -p "build-fuzz/corpus/$t" "build-fuzz/findings/$t"
  ./build-fuzz/tests/fuzz/fuzz_"$t" "build-fuzz/corpus/$t" "build-fuzz/seeds/$t" -max_total_time="$seconds" \
      -rss_limit_mb=2048 -malloc_limit_mb=256 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="build-fuzz/findings/$t/" > "build-fuzz/findings/$t.log" 2>&1
  local status=$?
  local runs
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/findings/$t.log" | grep -o '[0-9]*$')
  printf '%-11s %s  %s runs in %s s, corpus %s files\n' "$t" "$([ $status -eq 0 ] && echo ok || echo FOUND)" \
      "${runs:-?}" "$seconds" "$(ls "build-fuzz/corpus/$t" | wc -l)"
  return $status
}

status=0
jobs=$(nproc)
for ((i = 0; i < ${#targets[@]}; i += jobs)); do
  pids=()
  for t in "${targets[@]:i:jobs}"; do run_one "$t" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || status=1; done
done
[ $status -eq 0 ] && echo "fuzz: no findings" || echo "fuzz: findings in build-fuzz/findings (see the .log files)"
exit $status
