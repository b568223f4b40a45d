"""FAISS's side of test_faiss_files' interoperability case (Debian's python3-faiss).

usage: faiss_interop.py DIR BITS K

1. Loads the binary index files deephash wrote to DIR (flat, IDMap, IDMap2), searches them with
   the queries deephash wrote, and checks FAISS's k nearest against deephash's: the same sorted
   distances, and every returned id one whose code lies at the returned distance.
2. Writes FAISS files of its own (a flat index and an IDMap2 with scattered ids, random codes)
   with the raw codes and ids beside them, for deephash to read back.
Exits non-zero with a message on the first difference.
"""
import sys

import faiss
import numpy as np


def raw(path, dtype, shape):
    return np.fromfile(path, dtype=dtype).reshape(shape)


def main():
    out, bits, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    code_size = (bits + 7) // 8
    codes = raw(f"{out}/codes.u8", np.uint8, (-1, code_size))
    ids = raw(f"{out}/ids.i64", np.int64, (-1,))
    queries = raw(f"{out}/queries.u8", np.uint8, (-1, code_size))
    expected_d = raw(f"{out}/expected_distances.i32", np.int32, (len(queries), k))

    popcount = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(axis=1)
    for name, with_ids in (("flat", False), ("idmap", True), ("idmap2", True)):
        index = faiss.read_index_binary(f"{out}/{name}.faiss")
        if index.d != 8 * code_size or index.ntotal != len(codes):
            sys.exit(f"{name}: FAISS reads d={index.d}, ntotal={index.ntotal}; deephash wrote {8 * code_size}, {len(codes)}")
        distances, labels = index.search(queries, k)
        if not np.array_equal(distances, expected_d):
            bad = np.argwhere(distances != expected_d)[0]
            sys.exit(f"{name}: query {bad[0]} rank {bad[1]}: FAISS distance {distances[tuple(bad)]}, deephash {expected_d[tuple(bad)]}")
        row_of = {int(i): r for r, i in enumerate(ids)} if with_ids else None
        for q in range(len(queries)):
            for r in range(k):
                label = int(labels[q, r])
                row = row_of[label] if with_ids else label
                d = int(popcount[np.bitwise_xor(codes[row], queries[q])].sum())
                if d != distances[q, r]:
                    sys.exit(f"{name}: query {q} rank {r}: id {label} is at distance {d}, not {distances[q, r]}")
        print(f"{name}: FAISS {faiss.__version__} reads it and finds deephash's {k} nearest for {len(queries)} queries")

    rng = np.random.default_rng(7)
    theirs = rng.integers(0, 256, size=(300, code_size), dtype=np.uint8)
    their_ids = rng.choice(10**12, size=len(theirs), replace=False).astype(np.int64) - 5 * 10**11
    flat = faiss.IndexBinaryFlat(8 * code_size)
    flat.add(theirs)
    faiss.write_index_binary(flat, f"{out}/faiss_flat.faiss")
    mapped = faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(8 * code_size))
    mapped.add_with_ids(theirs, their_ids)
    faiss.write_index_binary(mapped, f"{out}/faiss_idmap2.faiss")
    theirs.tofile(f"{out}/faiss_codes.u8")
    their_ids.tofile(f"{out}/faiss_ids.i64")


if __name__ == "__main__":
    main()
