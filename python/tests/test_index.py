import os
import pickle
import threading

import numpy as np
import pytest

import deephash
from conftest import brute_force_knn, clustered_codes

INDEXES = [deephash.HammingIndex, deephash.MultiIndexHashing]


@pytest.mark.parametrize("make", INDEXES)
@pytest.mark.parametrize("bits", [12, 48, 64, 100])
def test_search_matches_brute_force(rng, make, bits):
    database = clustered_codes(rng, 3000, bits)
    queries = clustered_codes(rng, 40, bits)
    index = make(bits)
    index.add(deephash.pack_bits(database))
    assert index.ntotal == len(index) == 3000 and index.bits == bits
    for k in (1, 10, 100):
        D, I = index.search(deephash.pack_bits(queries), k)
        D_ref, I_ref, _ = brute_force_knn(database, queries, k)
        assert D.dtype == np.int32 and I.dtype == np.int64 and D.shape == (40, k)
        assert np.array_equal(D, D_ref) and np.array_equal(I, I_ref)
    # bool codes are the same codes
    D2, I2 = index.search(queries, 10)
    assert np.array_equal(I2, brute_force_knn(database, queries, 10)[1])


@pytest.mark.parametrize("make", INDEXES)
def test_range_search_matches_brute_force(rng, make):
    bits = 48
    database = clustered_codes(rng, 2000, bits)
    queries = clustered_codes(rng, 25, bits)
    index = make(bits)
    index.add(deephash.pack_bits(database))
    lims, D, I = index.range_search(deephash.pack_bits(queries), 6)
    _, _, distances = brute_force_knn(database, queries, 1)
    assert lims.shape == (26,) and lims[0] == 0 and lims[-1] == len(I) == len(D)
    for q in range(len(queries)):
        within = np.flatnonzero(distances[q] <= 6)
        order = np.lexsort((within, distances[q, within]))
        assert np.array_equal(I[lims[q] : lims[q + 1]], within[order])
        assert np.array_equal(D[lims[q] : lims[q + 1]], distances[q, within[order]])


@pytest.mark.parametrize("make", INDEXES)
def test_ids_removal_and_k_past_the_database(rng, make):
    bits = 40
    codes = clustered_codes(rng, 50, bits)
    ids = np.arange(1000, 1100, 2)
    index = make(bits)
    index.add_with_ids(deephash.pack_bits(codes), ids)
    assert np.array_equal(index.ids(), ids) and index.next_id == 1099 and 1010 in index and 1011 not in index
    assert np.array_equal(index.reconstruct(1010), deephash.pack_bits(codes[5:6])[0])
    assert index.remove_ids(np.array([1000, 1002, 5])) == 2
    keep = ids[2:]
    D, I = index.search(codes[:3], 48)
    D_ref, I_ref, _ = brute_force_knn(codes[2:], codes[:3], 48, ids=keep)
    assert np.array_equal(D, D_ref) and np.array_equal(I, I_ref)
    index.add(codes[:1])  # numbered from one past the largest id
    assert index.ids()[-1] == 1099


@pytest.mark.parametrize("make", INDEXES)
def test_save_load_bytes_and_pickle(rng, make, tmp_path):
    bits = 48
    codes = deephash.pack_bits(clustered_codes(rng, 500, bits))
    index = make(bits)
    index.add_with_ids(codes, np.arange(500) * 3)
    queries = codes[:7]
    expected = index.search(queries, 20)
    path = str(tmp_path / "index.dhi")
    index.save(path)
    for copy in (deephash.load_index(path), deephash.load_index(path, mmap=True),
                 deephash.index_from_bytes(index.to_bytes()), pickle.loads(pickle.dumps(index))):
        assert type(copy) is make and copy.kind == index.kind
        D, I = copy.search(queries, 20)
        assert np.array_equal(D, expected[0]) and np.array_equal(I, expected[1])
    with pytest.raises(FileNotFoundError):
        deephash.load_index(str(tmp_path / "missing.dhi"))
    broken = bytearray(index.to_bytes())
    broken[5000] ^= 0xFF
    with pytest.raises(ValueError, match="checksum|CRC"):
        deephash.index_from_bytes(bytes(broken))


def test_codes_of_64_bit_multiples_are_read_in_place_with_the_same_results(rng):
    bits = 128
    database = clustered_codes(rng, 1000, bits)
    packed = deephash.pack_bits(database)
    index = deephash.HammingIndex(bits)
    index.add(packed)
    D, I = index.search(packed[3:40], 5)  # a row slice: contiguous, offset by whole codes
    D_ref, I_ref, _ = brute_force_knn(database, database[3:40], 5)
    assert np.array_equal(D, D_ref) and np.array_equal(I, I_ref)
    unaligned = np.frombuffer(b"\0" + packed.tobytes(), dtype=np.uint8, offset=1).reshape(packed.shape)
    assert unaligned.ctypes.data % 8 != 0  # repacked rather than read in place
    assert np.array_equal(index.search(unaligned[3:40], 5)[1], I_ref)


def test_bad_input_raises_clear_errors(rng):
    index = deephash.HammingIndex(48)
    index.add(deephash.pack_bits(clustered_codes(rng, 10, 48)))
    with pytest.raises(TypeError, match="uint8"):
        index.search(np.zeros((2, 6), dtype=np.float32), 1)
    with pytest.raises(ValueError, match="rows of 8 bytes but 48-bit codes take 6"):
        index.search(np.zeros((2, 8), dtype=np.uint8), 1)
    with pytest.raises(ValueError, match="rows of 40 bools"):
        index.search(np.zeros((2, 40), dtype=bool), 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        index.search(np.zeros((2, 12), dtype=np.uint8)[:, ::2], 1)
    for k in (-1, 0):
        with pytest.raises(ValueError, match=f"k must be >= 1, got {k}"):
            index.search(np.zeros((2, 6), dtype=np.uint8), k)
    with pytest.raises(ValueError, match="3 codes but 2 ids"):
        index.add_with_ids(np.zeros((3, 6), dtype=np.uint8), np.array([100, 101]))
    with pytest.raises(ValueError):
        index.add_with_ids(np.zeros((1, 6), dtype=np.uint8), np.array([0]))  # id 0 is taken
    with pytest.raises(TypeError):
        index.add("not codes")
    with pytest.raises(ValueError, match="between 1 and 4096"):
        deephash.HammingIndex(0)
    D, I = index.search(np.zeros((0, 6), dtype=np.uint8), 5)
    assert D.shape == (0, 5)


# Run in a child process whose address space is capped at 2 GiB, so that a search that allocates
# nq x k results for k = 10**9 (12 GB a query) fails with MemoryError there instead of driving
# this machine into the kernel's out-of-memory killer.
HUGE_K_SCRIPT = """
import resource, numpy as np, deephash
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
rng = np.random.default_rng(3)
codes = rng.integers(0, 256, (300, 8), dtype=np.uint8)
index = deephash.{kind}(64, num_threads=1)
index.add(codes)
D, I = index.search(codes[:4], 10**9)
assert D.shape == I.shape == (4, 300), D.shape
assert np.array_equal(np.sort(I, axis=1), np.tile(np.arange(300), (4, 1)))  # every code, once
assert (I[:, 0] == np.arange(4)).all() and (D[:, 0] == 0).all()
assert (np.diff(D, axis=1) >= 0).all()
E, I2, H = deephash.rerank(index, np.zeros((300, 2), np.float32), codes[:2], np.zeros((2, 2), np.float32), k=10**9, pool=10**9)
assert I2.shape == (2, 300)
print("ok")
"""


@pytest.mark.parametrize("kind", ["HammingIndex", "MultiIndexHashing"])
def test_k_is_capped_at_the_index_size(kind):
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", HUGE_K_SCRIPT.format(kind=kind)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]


def test_k_larger_than_the_index_returns_every_code(rng):
    bits = 32
    codes = clustered_codes(rng, 37, bits)
    index = deephash.HammingIndex(bits)
    index.add(codes)
    D, I = index.search(codes[:5], 1000)
    D_ref, I_ref, _ = brute_force_knn(codes, codes[:5], 37)
    assert D.shape == (5, 37) and np.array_equal(D, D_ref) and np.array_equal(I, I_ref)
    assert deephash.HammingIndex(bits).search(codes[:2], 10)[0].shape == (2, 0)  # empty index: no ranks


def test_concurrent_searches_from_threads_agree(rng):
    bits = 64
    database = deephash.pack_bits(clustered_codes(rng, 20000, bits))
    queries = deephash.pack_bits(clustered_codes(rng, 64, bits))
    index = deephash.MultiIndexHashing(bits, num_threads=2)
    index.add(database)
    expected = index.search(queries, 10)
    results = [None] * 4

    def work(t):
        results[t] = index.search(queries, 10)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for D, I in results:
        assert np.array_equal(D, expected[0]) and np.array_equal(I, expected[1])


def test_faiss_finds_the_same_distances(rng):
    faiss = pytest.importorskip("faiss")
    bits = 64
    database = deephash.pack_bits(clustered_codes(rng, 5000, bits))
    queries = deephash.pack_bits(clustered_codes(rng, 50, bits))
    ours = deephash.HammingIndex(bits)
    ours.add(database)
    theirs = faiss.IndexBinaryFlat(bits)
    theirs.add(database)
    D, I = ours.search(queries, 25)
    D_faiss, I_faiss = theirs.search(queries, 25)
    assert np.array_equal(D, D_faiss)
    # Ties may be ordered differently: the ids strictly inside the k-th distance agree as sets.
    for q in range(len(queries)):
        inside = D[q] < D[q, -1]
        assert set(I[q][inside]) == set(I_faiss[q][D_faiss[q] < D_faiss[q, -1]])


def test_rerank_by_features(rng):
    bits = 32
    n, dim = 400, 16
    codes = clustered_codes(rng, n, bits)
    features = rng.standard_normal((n, dim)).astype(np.float32)
    index = deephash.HammingIndex(bits)
    index.add(codes)
    E, I, H = deephash.rerank(index, features, codes[:5], features[:5], k=10, pool=50)
    _, candidates = index.search(codes[:5], 50)
    for q in range(5):
        d = np.linalg.norm(features[candidates[q]] - features[q], axis=1)
        best = candidates[q][np.argsort(d, kind="stable")[:10]]
        assert set(I[q]) == set(best) and I[q, 0] == q and E[q, 0] == 0
    with pytest.raises(ValueError, match="NaN"):
        bad = features[:5].copy()
        bad[0, 0] = np.nan
        deephash.rerank(index, features, codes[:5], bad, k=10, pool=50)


def thread_count():
    """Threads of this process, as the kernel lists them."""
    return len(os.listdir("/proc/self/task"))


@pytest.fixture
def restore_num_threads():
    before = deephash.get_num_threads()
    yield
    deephash.set_num_threads(before)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux's /proc to count threads")
def test_set_num_threads_applies_to_indexes_made_before(rng, restore_num_threads, tmp_path):
    bits = 64
    codes = deephash.pack_bits(clustered_codes(rng, 3000, bits))
    queries = codes[:40]
    deephash.set_num_threads(1)
    made = deephash.HammingIndex(bits)
    made.add(codes)
    mih = deephash.MultiIndexHashing(bits)
    mih.add(codes)
    made.save(str(tmp_path / "index.dhx"))
    loaded, unpickled = deephash.load_index(str(tmp_path / "index.dhx")), pickle.loads(pickle.dumps(made))
    own = deephash.HammingIndex(bits, num_threads=3)
    expected = made.search(queries, 10)
    assert made.num_threads == mih.num_threads == loaded.num_threads == unpickled.num_threads == 1
    before = thread_count()
    deephash.set_num_threads(4)
    # One pool, shared: 3 workers started for all of them, which now search with 4 threads.
    assert thread_count() == before + 3
    assert made.num_threads == mih.num_threads == loaded.num_threads == unpickled.num_threads == 4
    assert own.num_threads == 3
    for index in (made, mih, loaded, unpickled):
        D, I = index.search(queries, 10)
        assert np.array_equal(D, expected[0]) and np.array_equal(I, expected[1])
    made.num_threads = 2  # a count of its own: no longer follows
    deephash.set_num_threads(1)
    assert thread_count() == before + 1  # the 3 shared workers left; made's own pool keeps 1
    assert made.num_threads == 2 and mih.num_threads == 1


def test_set_num_threads_while_searching(rng, restore_num_threads):
    bits = 64
    codes = deephash.pack_bits(clustered_codes(rng, 20000, bits))
    queries = codes[:3]  # fewer queries than threads: the database is split between them
    index = deephash.HammingIndex(bits)
    index.add(codes)
    expected = index.search(queries, 10)
    stop, results = threading.Event(), []

    def work():
        while not stop.is_set():
            results.append(index.search(queries, 10))

    searchers = [threading.Thread(target=work) for _ in range(2)]
    for t in searchers:
        t.start()
    for n in (3, 1, 4, 2, 1, 3) * 3:
        deephash.set_num_threads(n)
    stop.set()
    for t in searchers:
        t.join()
    assert results and all(np.array_equal(D, expected[0]) and np.array_equal(I, expected[1]) for D, I in results)


def test_thread_counts_are_bounded(restore_num_threads):
    deephash.set_num_threads(2)
    for n in (0, -1, 1025, 5000):
        with pytest.raises(ValueError, match=f"set_num_threads: must be between 1 and 1024 threads, got {n}"):
            deephash.set_num_threads(n)
    assert deephash.get_num_threads() == 2  # unchanged by the refusals
    with pytest.raises(ValueError, match="num_threads: must be between 1 and 1024 threads, got 5000"):
        deephash.HammingIndex(64, num_threads=5000)
    with pytest.raises(ValueError, match="got -2"):
        deephash.MultiIndexHashing(64, num_threads=-2)
    index = deephash.HammingIndex(64)
    with pytest.raises(ValueError, match="got 2000"):
        index.num_threads = 2000
    deephash.set_num_threads(1024)
    assert deephash.get_num_threads() == 1024
