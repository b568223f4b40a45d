#!/usr/bin/env bash
# What a job of N ranks buys over one process on this machine, in one run: deephash_bench_mpi as
# one process with all T threads (the anchor), then as N ranks of T / N threads each; the two
# JSON reports joined into one. docs/SCALING.md records the figures.
#   bench/scaling.sh [BUILD_DIR] [N] [OUT.json]     (defaults: build, 2, scaling.json)
# DEEPHASH_BENCH_MPI_N sets the database size (default 10^7 codes); extra arguments for the
# benchmark (e.g. --benchmark_filter=Search) go in DEEPHASH_BENCH_ARGS.
set -euo pipefail
build="${1:-build}"
ranks="${2:-2}"
out="${3:-scaling.json}"
threads="$(nproc)"
per_rank=$(( threads / ranks > 0 ? threads / ranks : 1 ))
bench="$build/bench/deephash_bench_mpi"
[ -x "$bench" ] || { echo "scaling.sh: $bench not built (cmake --build $build --target deephash_bench_mpi)" >&2; exit 1; }
# Not bound to cores: mpirun binds each rank to one core by default, which would give the one
# process of the anchor a single core for its threads.
mpirun=(mpirun --allow-run-as-root --oversubscribe --bind-to none)
export OMPI_MCA_btl_vader_single_copy_mechanism=none  # containers withhold the ptrace rights it needs
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "one process, $threads threads"
DEEPHASH_NUM_THREADS=$threads "${mpirun[@]}" -np 1 "$bench" --benchmark_out="$tmp/one.json" \
  --benchmark_out_format=json ${DEEPHASH_BENCH_ARGS:-}
echo "$ranks ranks, $per_rank thread(s) each"
DEEPHASH_NUM_THREADS=$per_rank "${mpirun[@]}" -np "$ranks" "$bench" --benchmark_out="$tmp/job.json" \
  --benchmark_out_format=json ${DEEPHASH_BENCH_ARGS:-}
python3 - "$tmp/one.json" "$tmp/job.json" "$out" <<'EOF'
import json, sys
one, job = (json.load(open(p)) for p in sys.argv[1:3])
for b in one["benchmarks"]: b["name"] = "one_process/" + b["name"]
for b in job["benchmarks"]: b["name"] = "job/" + b["name"]
joined = {"context": one["context"], "context_job": job["context"], "benchmarks": one["benchmarks"] + job["benchmarks"]}
json.dump(joined, open(sys.argv[3], "w"), indent=1)
print(f"{'benchmark':60s} {'one process':>12s} {'job':>12s} {'speed-up':>8s}")
times = {b["name"].split("/", 1)[1]: b["real_time"] for b in job["benchmarks"]}
for b in one["benchmarks"]:
    name = b["name"].split("/", 1)[1]
    if name in times:
        print(f"{name:60s} {b['real_time']:10.1f}{b['time_unit']:>2s} {times[name]:10.1f}{b['time_unit']:>2s} {b['real_time'] / times[name]:7.2f}x")
print("wrote", sys.argv[3])
EOF
