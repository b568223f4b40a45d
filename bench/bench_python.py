#!/usr/bin/env python3
"""What the Python module adds to a search: index.search(queries, k) from Python against the same
call timed inside C++ (deephash._deephash._search_seconds: queries converted and results allocated
once), on 10^6 codes like a trained model's (class centres with flipped bits: clustered, tied).

    PYTHONPATH=build/python python3 bench/bench_python.py [--n 1000000] [--queries 256] [--repeats 15]

Prints JSON in Google Benchmark's layout (context, benchmarks with real_time in ms): for each
index and k, the C++ time, the Python time and the overhead (median over the repeats, each
measured back to back with the other side)."""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

import deephash
from deephash import _deephash


def clustered_codes(rng, n, bits, centres=10, flip=0.08, chunk=250_000):
    centre = rng.random((centres, bits)) < 0.5
    out = np.empty((n, deephash.code_size(bits)), dtype=np.uint8)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        which = rng.integers(0, centres, m)
        out[start : start + m] = deephash.pack_bits(centre[which] ^ (rng.random((m, bits)) < flip))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=256)
    parser.add_argument("--bits", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    rng = np.random.default_rng(1)
    database = clustered_codes(rng, args.n, args.bits)
    queries = clustered_codes(rng, args.queries, args.bits)
    results = []
    for name, make in (("HammingIndex", deephash.HammingIndex), ("MultiIndexHashing", deephash.MultiIndexHashing)):
        index = make(args.bits)
        index.add(database)
        for k in (1, 10, 100):
            index.search(queries, k)  # warm up
            cpp, py = [], []
            for _ in range(args.repeats):
                cpp += _deephash._search_seconds(index, queries, k, 1)
                start = time.perf_counter()
                index.search(queries, k)
                py.append(time.perf_counter() - start)
            cpp_ms, py_ms = 1e3 * statistics.median(cpp), 1e3 * statistics.median(py)
            label = f"{name}/n:{args.n}/queries:{args.queries}/k:{k}"
            results.append({"name": f"cpp/{label}", "real_time": cpp_ms, "time_unit": "ms", "repetitions": args.repeats})
            results.append({"name": f"python/{label}", "real_time": py_ms, "time_unit": "ms", "repetitions": args.repeats,
                            "python_overhead_percent": 100 * (py_ms - cpp_ms) / cpp_ms})
            print(f"{label:52s} C++ {cpp_ms:9.3f} ms  Python {py_ms:9.3f} ms  overhead {100 * (py_ms - cpp_ms) / cpp_ms:+6.2f} %",
                  file=sys.stderr)
    context = {"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "host_name": platform.node(), "num_cpus": os.cpu_count(),
               "python": platform.python_version(), "numpy": np.__version__, "deephash_threads": deephash.get_num_threads(),
               "backend": deephash.HammingIndex.backend, "bits": args.bits, "codes": "10 class centres, 8% of bits flipped"}
    json.dump({"context": context, "benchmarks": results}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
