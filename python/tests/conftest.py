import gzip
import os
import pathlib

import numpy as np
import pytest

SOURCE_DIR = pathlib.Path(os.environ.get("DEEPHASH_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist


def clustered_codes(rng, n, bits, centres=10, flip=0.08):
    """Codes like a trained model's: a few class centres with some bits flipped, so that many
    codes tie at one distance (bool, n x bits)."""
    centre = rng.random((centres, bits)) < 0.5
    which = rng.integers(0, centres, n)
    return centre[which] ^ (rng.random((n, bits)) < flip)


def brute_force_knn(database, queries, k, ids=None):
    """The k nearest by Hamming distance, ties by ascending id (bool codes)."""
    ids = np.arange(len(database)) if ids is None else np.asarray(ids)
    distances = (queries[:, None, :] != database[None, :, :]).sum(axis=2)
    D = np.full((len(queries), k), 2**31 - 1, dtype=np.int32)
    I = np.full((len(queries), k), -1, dtype=np.int64)
    for q in range(len(queries)):
        order = np.lexsort((ids, distances[q]))[:k]
        D[q, : len(order)] = distances[q, order]
        I[q, : len(order)] = ids[order]
    return D, I, distances


# The tests whose oracle is an outside Python module (test name: module). They are marked
# `oracle` here and run as a ctest entry of their own (python_tests:oracle), reported as skipped
# where the module is absent, so that python_tests itself needs nothing outside this project.
ORACLE_TESTS = {"test_faiss_finds_the_same_distances": "faiss", "test_load_index_reads_what_faiss_writes": "faiss"}


def pytest_configure(config):
    config.addinivalue_line("markers", "real_data: needs Debian's Fashion-MNIST or the deephash command (ctest: python_tests:real_data)")
    config.addinivalue_line("markers", "oracle(module): compared with an outside Python module (ctest: python_tests:oracle)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = ORACLE_TESTS.get(getattr(item, "originalname", item.name))
        if module:
            item.add_marker(pytest.mark.oracle(module))


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.fixture
def fashion_mnist_dir():
    if not (FASHION_MNIST / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"Debian's dataset-fashion-mnist is not installed ({FASHION_MNIST})")
    return FASHION_MNIST


def read_idx(path):
    """An IDX file (gzip-compressed) as a numpy array of its shape."""
    with gzip.open(path) as f:
        data = f.read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def fashion_mnist_part(fashion_mnist_dir, tmp_path):
    """fashion_mnist_part(train_step, test_step): every train_step-th training image and every
    test_step-th test image of Fashion-MNIST, written as the dataset's four files into a folder
    (returned): the real images through the same readers, in a fraction of the time."""
    def write(train_step, test_step):
        folder = tmp_path / f"fashion-mnist-{train_step}-{test_step}"
        folder.mkdir()
        for name, step in (("train-images-idx3-ubyte", train_step), ("train-labels-idx1-ubyte", train_step),
                           ("t10k-images-idx3-ubyte", test_step), ("t10k-labels-idx1-ubyte", test_step)):
            write_idx(folder / f"{name}.gz", read_idx(fashion_mnist_dir / f"{name}.gz")[::step])
        return folder
    return write
