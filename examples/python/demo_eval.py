#!/usr/bin/env python3
"""`deephash demo`'s evaluation from numpy arrays.

Reads Fashion-MNIST with numpy alone, trains the paper's method (a small CNN with a 48-unit
sigmoid latent layer under the softmax loss) on the 60,000 training images, encodes them as the
database and the 10,000 test images as queries, and reports mAP@1000 (the paper's normalisation:
AP divided by the relevant items in the top 1000) and precision@k next to LSH, ITQ and exact
Euclidean ranking on raw pixels, as `deephash demo` does. With the same seed and thread count the
trained model, its codes and every hashing row equal the command's to the last digit (the tests
check the training on small data and this script's scores of a given model, --model, against
`deephash eval`); the Euclidean row is ranked by numpy here and agrees to rounding.

    PYTHONPATH=build/python python3 examples/python/demo_eval.py [--epochs 8] [--bits 48]

Writes the model, results.json and a precision@k plot (if matplotlib is present) to --out.
"""
import argparse
import gzip
import json
import pathlib
import sys
import time

import numpy as np

import deephash

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(path):
    """An IDX file (gzip): magic 0x0000 0x08 ndim, then ndim big-endian sizes, then the bytes."""
    with gzip.open(path) as f:
        data = f.read()
    if data[:2] != b"\0\0" or data[2] != 0x08:
        sys.exit(f"{path}: not an IDX file of unsigned bytes")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def euclidean_ranking(database, queries, k, chunk=500):
    """The k nearest rows by Euclidean distance, ties by database order (int64, nq x k)."""
    norms = (database**2).sum(axis=1)
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        q = queries[start : start + chunk]
        d = norms[None, :] - 2 * q @ database.T  # + |q|^2, the same for every row of a query
        part = np.argpartition(d, k, axis=1)[:, : k + 1]
        for i in range(len(q)):
            cand = part[i]
            out[start + i] = cand[np.lexsort((cand, d[i, cand]))][:k]
    return out


def record(method, bits, scores, train_seconds, eval_seconds):
    return {"method": method, "dataset": "fashion-mnist", "bits": bits, "map_at_1000": scores.map,
            "precision_at_k": {int(k): float(p) for k, p in zip(scores.cutoffs, scores.precision)},
            "train_seconds": train_seconds, "eval_seconds": eval_seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="Debian's dataset-fashion-mnist")
    parser.add_argument("--bits", type=int, default=48)
    parser.add_argument("--epochs", type=float, default=None, help="default: the architecture's (8)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", help="evaluate this model (.dhm) instead of training one")
    parser.add_argument("--threads", type=int, default=0, help="default: every core")
    parser.add_argument("--baselines", default="12,32,48", help="LSH and ITQ code lengths ('' for none)")
    parser.add_argument("--no-euclidean", action="store_true")
    parser.add_argument("--out", default="deephash-py-out")
    args = parser.parse_args()
    if args.threads:
        deephash.set_num_threads(args.threads)
    data, out = pathlib.Path(args.data), pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train_x = read_idx(data / "train-images-idx3-ubyte.gz")
    train_y = read_idx(data / "train-labels-idx1-ubyte.gz").astype(np.int64)
    test_x = read_idx(data / "t10k-images-idx3-ubyte.gz")
    test_y = read_idx(data / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    print(f"database: {len(train_x)} training images, queries: {len(test_x)} test images, {train_x.shape[1]}x{train_x.shape[2]} gray")

    records = []
    start = time.perf_counter()
    if args.model:
        model, train_seconds = deephash.load_model(args.model), 0.0
    else:
        model = deephash.train(train_x, train_y, bits=args.bits, epochs=args.epochs, seed=args.seed, class_names=CLASSES).model
        train_seconds = time.perf_counter() - start
        model.save(str(out / f"fashion-mnist_{args.bits}bits.dhm"))
    start = time.perf_counter()
    database, _ = model.encode(train_x, progress=True)
    queries, _ = model.encode(test_x, progress=True)
    index = deephash.HammingIndex(model.bits)
    index.add(database)
    scores = deephash.evaluate(index, queries, test_y, train_y, k=1000)
    records.append(record("deephash (ours)", model.bits, scores, train_seconds, time.perf_counter() - start))
    print(f"deephash (ours), {model.bits} bits: mAP@1000 {scores.map:.4f}, precision@100 {scores.precision[list(scores.cutoffs).index(100)]:.4f}")

    pixels_db = train_x.reshape(len(train_x), -1).astype(np.float32) / 255
    pixels_q = test_x.reshape(len(test_x), -1).astype(np.float32) / 255
    for bits in [int(b) for b in args.baselines.split(",") if b]:
        for hasher in (deephash.LSH(bits), deephash.ITQ(bits)):
            start = time.perf_counter()
            hasher.fit(pixels_db)
            codes = hasher.encode(pixels_db)
            fit_seconds = time.perf_counter() - start
            index = deephash.HammingIndex(bits)
            index.add(codes)
            start = time.perf_counter()
            s = deephash.evaluate(index, hasher.encode(pixels_q), test_y, train_y, k=1000)
            name = type(hasher).__name__
            records.append(record(name, bits, s, fit_seconds, time.perf_counter() - start))
            print(f"{name}, {bits} bits: mAP@1000 {s.map:.4f}")
    if not args.no_euclidean:
        start = time.perf_counter()
        ranking = euclidean_ranking(pixels_db, pixels_q, 1000)
        s = deephash.score_rankings(ranking, test_y, train_y, k=1000)
        records.append(record("Euclidean (raw pixels)", 0, s, 0, time.perf_counter() - start))
        print(f"Euclidean (raw pixels): mAP@1000 {s.map:.4f}")

    (out / "results.json").write_text(json.dumps(records, indent=2) + "\n")
    print(f"wrote {out / 'results.json'}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in records:
        ks = list(r["precision_at_k"])
        ax.plot(ks, [r["precision_at_k"][k] for k in ks], label=f"{r['method']} {r['bits'] or ''}".strip())
    ax.set(xlabel="k", ylabel="precision@k", title="Fashion-MNIST: precision of the top k")
    ax.legend(fontsize=8)
    fig.savefig(out / "precision_at_k.png", dpi=120)
    print(f"wrote {out / 'precision_at_k.png'}")


if __name__ == "__main__":
    main()
