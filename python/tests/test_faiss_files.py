"""deephash.load_index reads FAISS's binary index files: files laid out byte by byte here as
FAISS's write_index_binary lays them out, the ones `deephash index --format faiss` writes, and
(with Debian's python3-faiss) the ones FAISS itself writes. Each is searched against a
HammingIndex built from the same codes."""

import os
import struct
import subprocess

import numpy as np
import pytest

import deephash
from conftest import SOURCE_DIR, clustered_codes


def faiss_flat_bytes(codes, id_map_kind=None, ids=None):
    """FAISS's file of an IndexBinaryFlat (fourcc "IBxF"; header d, code_size, ntotal, is_trained,
    metric; then the code bytes as a u64-counted vector), or of an IDMap ("IBMp") / IDMap2 ("IBM2")
    around one (its own header with code_size 0, the flat index, then the ids as a vector)."""
    n, code_size = codes.shape

    def header(size):
        return struct.pack("<iiqBi", 8 * code_size, size, n, 1, 1)

    flat = b"IBxF" + header(code_size) + struct.pack("<Q", codes.size) + codes.tobytes()
    if id_map_kind is None:
        return flat
    ids = np.asarray(ids, dtype="<i8")
    return id_map_kind + header(0) + flat + struct.pack("<Q", len(ids)) + ids.tobytes()


def same_results(index, expected, queries, k):
    D, I = index.search(queries, k)
    D_ref, I_ref = expected.search(queries, k)
    assert np.array_equal(D, D_ref) and np.array_equal(I, I_ref)
    lims, D, I = index.range_search(queries, expected.bits // 4)
    lims_ref, D_ref, I_ref = expected.range_search(queries, expected.bits // 4)
    assert np.array_equal(lims, lims_ref) and np.array_equal(I, I_ref) and np.array_equal(D, D_ref)


@pytest.mark.parametrize("bits", [12, 64, 100])
@pytest.mark.parametrize("kind", [None, b"IBMp", b"IBM2"])
def test_load_index_reads_faiss_files(rng, tmp_path, bits, kind):
    codes = deephash.pack_bits(clustered_codes(rng, 400, bits))
    queries = deephash.pack_bits(clustered_codes(rng, 20, bits))
    ids = rng.permutation(10**6)[:400] * 7 + 3 if kind else None
    expected = deephash.HammingIndex(bits)
    if kind:
        expected.add_with_ids(codes, ids)
    else:
        expected.add(codes)
    path = tmp_path / "index.faiss"
    path.write_bytes(faiss_flat_bytes(codes, kind, ids))
    for index in (deephash.load_index(str(path), bits=bits), deephash.load_index(str(path), mmap=True, bits=bits),
                  deephash.index_from_bytes(path.read_bytes())):
        if index.bits != bits:  # index_from_bytes takes FAISS's whole bytes
            assert index.bits == 8 * deephash.code_size(bits) and bits == 12 or bits == 100
            assert np.array_equal(index.search(queries, 9)[0], expected.search(queries, 9)[0])
            continue
        assert isinstance(index, deephash.HammingIndex) and index.kind == "flat" and index.ntotal == 400
        assert np.array_equal(index.ids(), expected.ids())
        same_results(index, expected, queries, 15)
    # Without bits, a length that is not whole bytes reads back padded: the same distances.
    padded = deephash.load_index(str(path))
    assert padded.bits == 8 * deephash.code_size(bits)
    assert np.array_equal(padded.search(queries, 15)[0], expected.search(queries, 15)[0])


def test_faiss_files_deephash_cannot_hold_are_refused_by_name(rng, tmp_path):
    codes = deephash.pack_bits(clustered_codes(rng, 4, 32))
    path = tmp_path / "repeated.faiss"
    path.write_bytes(faiss_flat_bytes(codes, b"IBMp", [5, 6, 6, 7]))  # FAISS's IDMap allows it
    with pytest.raises(ValueError, match="repeated.faiss: its ids cannot index a deephash index"):
        deephash.load_index(str(path))
    path.write_bytes(faiss_flat_bytes(codes)[:-3])
    with pytest.raises(ValueError, match="repeated.faiss"):
        deephash.load_index(str(path))
    path.write_bytes(faiss_flat_bytes(codes))
    with pytest.raises(ValueError, match="not codes of 20 bits"):
        deephash.load_index(str(path), bits=20)


# FAISS itself, in a test of its own so that its absence shows as a skip (importorskip).
def test_load_index_reads_what_faiss_writes(rng, tmp_path):
    faiss = pytest.importorskip("faiss")
    bits = 64
    codes = deephash.pack_bits(clustered_codes(rng, 1000, bits))
    queries = deephash.pack_bits(clustered_codes(rng, 30, bits))
    ids = (rng.permutation(10**6)[:1000] + 10**9).astype(np.int64)

    flat = faiss.IndexBinaryFlat(bits)
    flat.add(codes)
    faiss.write_index_binary(flat, str(tmp_path / "flat.faiss"))
    expected = deephash.HammingIndex(bits)
    expected.add(codes)
    same_results(deephash.load_index(str(tmp_path / "flat.faiss")), expected, queries, 20)

    mapped = faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(bits))
    mapped.add_with_ids(codes, ids)
    faiss.write_index_binary(mapped, str(tmp_path / "idmap2.faiss"))
    expected = deephash.HammingIndex(bits)
    expected.add_with_ids(codes, ids)
    index = deephash.load_index(str(tmp_path / "idmap2.faiss"), mmap=True)
    assert np.array_equal(index.ids(), np.sort(ids))
    same_results(index, expected, queries, 20)
    # FAISS's own distances agree with what deephash finds in FAISS's file.
    D_faiss, _ = mapped.search(queries, 20)
    assert np.array_equal(index.search(queries, 20)[0], D_faiss)


@pytest.mark.real_data
def test_load_index_reads_the_faiss_files_the_command_writes(rng, tmp_path):
    cli = os.environ.get("DEEPHASH_CLI")
    if not cli:
        pytest.skip("the deephash command was not built")
    model = deephash.load_model(str(SOURCE_DIR / "examples/models/fashion-mnist-48bit/model.dhm"))
    images = rng.integers(0, 256, (60, 28, 28), dtype=np.uint8)
    encoded = model.encode_source(deephash.array_source(images, rng.integers(0, 10, 60)), progress=False)
    encoded.save(str(tmp_path / "db.dhc"))
    ids_file = tmp_path / "ids.txt"
    ids = np.arange(60) * 11 + 100
    ids_file.write_text("".join(f"{i}\n" for i in ids))
    for args, index_ids in ((["--format", "faiss"], None), (["--format", "faiss", "--ids", str(ids_file)], ids)):
        out = tmp_path / "db.faiss"
        done = subprocess.run([cli, "index", "--codes", str(tmp_path / "db.dhc"), "--out", str(out)] + args,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        expected = deephash.HammingIndex(48)
        if index_ids is None:
            expected.add(encoded.codes)
        else:
            expected.add_with_ids(encoded.codes, index_ids)
        index = deephash.load_index(str(out))
        assert index.bits == 48 and np.array_equal(index.codes(), expected.codes())
        same_results(index, expected, encoded.codes[:10], 12)
