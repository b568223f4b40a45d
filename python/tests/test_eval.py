import gzip

import numpy as np
import pytest

import deephash
from conftest import clustered_codes


def reference_ap(row, relevant, k, normalization, total_relevant):
    hits, total = 0, 0.0
    for i, item in enumerate(row[:k]):
        if item >= 0 and relevant(item):
            hits += 1
            total += hits / (i + 1)
    denominator = {"relevant-retrieved": hits, "min-relevant-k": min(total_relevant, k), "all-relevant": total_relevant}[normalization]
    return total / denominator if denominator else 0.0


@pytest.mark.parametrize("normalization", ["relevant-retrieved", "min-relevant-k", "all-relevant"])
@pytest.mark.parametrize("multi_label", [False, True])
def test_map_at_k_matches_the_definition(rng, normalization, multi_label):
    n, nq, width, k = 300, 30, 60, 50
    ranking = rng.integers(-1, n, (nq, width)).astype(np.int64)
    if multi_label:
        db = rng.random((n, 5)) < 0.3
        q = rng.random((nq, 5)) < 0.3
        relevant = lambda qi: (lambda item: bool((db[item] & q[qi]).any()))  # noqa: E731
        totals = [int((db & q[qi]).any(axis=1).sum()) for qi in range(nq)]
    else:
        db = rng.integers(0, 4, n)
        q = rng.integers(0, 4, nq)
        relevant = lambda qi: (lambda item: db[item] == q[qi])  # noqa: E731
        totals = [int((db == q[qi]).sum()) for qi in range(nq)]
    expected = [reference_ap(ranking[qi], relevant(qi), k, normalization, totals[qi]) for qi in range(nq)]
    scores = deephash.score_rankings(ranking, q, db, k=k, normalization=normalization, cutoffs=[1, 10, 60])
    assert np.allclose(scores.average_precision, expected, rtol=0, atol=1e-12)
    assert scores.map == pytest.approx(np.mean(expected), abs=1e-12)
    assert deephash.map_at_k(ranking, q, db, k=k, normalization=normalization) == pytest.approx(np.mean(expected), abs=1e-12)
    hits10 = [sum(1 for item in ranking[qi, :10] if item >= 0 and relevant(qi)(item)) / 10 for qi in range(nq)]
    assert scores.precision[1] == pytest.approx(np.mean(hits10))
    assert deephash.precision_at_k(ranking, q, db, 10) == pytest.approx(np.mean(hits10))


def test_evaluate_ranks_by_hamming_distance_with_ties_in_database_order(rng):
    bits = 24
    labels = rng.integers(0, 5, 1500)
    codes = clustered_codes(rng, 1500, bits, centres=5)
    queries, query_labels = codes[:100], labels[:100]
    index = deephash.HammingIndex(bits)
    index.add(codes)
    _, ranking = index.search(queries, 1000)
    scores = deephash.evaluate(index, queries, query_labels, labels, k=1000)
    assert scores.map == pytest.approx(deephash.map_at_k(ranking, query_labels, labels, k=1000))
    result, seconds = deephash.evaluate_protocol(deephash.map_at_k_protocol("test"), index, queries, query_labels, labels)
    assert result.map == pytest.approx(scores.map) and seconds >= 0
    with pytest.raises(ValueError, match="10000 queries"):
        deephash.evaluate_protocol(deephash.cifar10_lin2015_protocol(), index, queries, query_labels, labels)
    with pytest.raises(ValueError, match="100 query codes but 99 query labels"):
        deephash.evaluate(index, queries, query_labels[:99], labels)
    with pytest.raises(ValueError, match="normalization"):
        deephash.evaluate(index, queries, query_labels, labels, normalization="paper")

    # mAP over the whole ranking, and the radius curves, from their definitions.
    distances = (queries[:, None, :] != codes[None, :, :]).sum(axis=2)
    full = []
    for qi in range(len(queries)):
        order = np.lexsort((np.arange(len(codes)), distances[qi]))
        full.append(reference_ap(order, lambda item: labels[item] == query_labels[qi], len(order), "all-relevant",
                                 int((labels == query_labels[qi]).sum())))
    assert deephash.map_full_ranking(index, queries, query_labels, labels) == pytest.approx(np.mean(full))
    curve = deephash.precision_recall_by_radius(index, queries, query_labels, labels, max_radius=4)
    for r in range(5):
        within = distances <= r
        relevant = within & (labels[None, :] == query_labels[:, None])
        found = within.sum(axis=1)
        precision = np.where(found > 0, relevant.sum(axis=1) / np.maximum(found, 1), 0.0)
        assert curve["precision"][r] == pytest.approx(precision.mean())
    assert deephash.precision_within_radius(index, queries, query_labels, labels, 2) == pytest.approx(curve["precision"][2])


def read_idx_images(path, count):
    with gzip.open(path) as f:
        data = np.frombuffer(f.read(16 + count * 784), dtype=np.uint8, offset=16)
    return data.reshape(count, 28, 28)


def read_idx_labels(path, count):
    with gzip.open(path) as f:
        return np.frombuffer(f.read(8 + count), dtype=np.uint8, offset=8).astype(np.int64)


@pytest.mark.real_data
def test_itq_beats_lsh_on_fashion_mnist(fashion_mnist_dir):
    images = read_idx_images(fashion_mnist_dir / "train-images-idx3-ubyte.gz", 6000)
    labels = read_idx_labels(fashion_mnist_dir / "train-labels-idx1-ubyte.gz", 6000)
    x = images.reshape(len(images), -1).astype(np.float32) / 255
    database, queries = slice(0, 5000), slice(5000, 6000)
    scores = {}
    for hasher in (deephash.LSH(48), deephash.ITQ(48)):
        hasher.fit(x[database])
        index = deephash.HammingIndex(48)
        index.add(hasher.encode(x[database]))
        scores[type(hasher).__name__] = deephash.evaluate(index, hasher.encode(x[queries]), labels[queries], labels[database]).map
    # The paper's table and our C++ tests: ITQ well above LSH at 48 bits.
    assert scores["ITQ"] > scores["LSH"] + 0.05 and scores["ITQ"] > 0.5
    itq0, itq50 = deephash.ITQ(48, iterations=0), deephash.ITQ(48, iterations=50)
    itq0.fit(x[database])
    itq50.fit(x[database])
    assert itq50.quantization_loss(x[database]) < itq0.quantization_loss(x[database])
    with pytest.raises(ValueError, match="expected 784 features"):
        itq50.encode(np.ascontiguousarray(x[:, :100]))
