import numpy as np
import pytest

import deephash


@pytest.mark.parametrize("bits", [1, 7, 8, 12, 48, 64, 100, 128])
def test_binarize_matches_numpy(rng, bits):
    activations = rng.random((33, bits), dtype=np.float32)
    expected = np.packbits(activations > 0.5, axis=1, bitorder="little")
    assert np.array_equal(deephash.binarize(activations), expected)
    assert np.array_equal(deephash.binarize(activations.astype(np.float64)), expected)
    signs = activations - 0.5
    assert np.array_equal(deephash.binarize(signs, threshold=0), expected)


@pytest.mark.parametrize("bits", [5, 12, 48, 64, 130])
def test_pack_unpack_round_trip_and_layout(rng, bits):
    values = rng.random((20, bits)) < 0.5
    packed = deephash.pack_bits(values)
    assert packed.dtype == np.uint8 and packed.shape == (20, deephash.code_size(bits))
    # FAISS's layout: bit j in byte j // 8 at position j % 8; the unused high bits are zero.
    assert np.array_equal(packed, np.packbits(values, axis=1, bitorder="little"))
    assert np.array_equal(deephash.unpack_bits(packed, bits), values)
    # Bits past `bits` in the last byte are ignored on input.
    if bits % 8:
        dirty = packed.copy()
        dirty[:, -1] |= np.uint8(0xFF << (bits % 8) & 0xFF)
        assert np.array_equal(deephash.unpack_bits(dirty, bits), values)


def test_binarize_rejects_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        deephash.binarize(np.array([[0.1, np.nan]], dtype=np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        deephash.binarize(np.zeros((2, 8), dtype=np.int32))
    with pytest.raises(ValueError, match="2-D"):
        deephash.binarize(np.zeros(8, dtype=np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        deephash.binarize(np.zeros((8, 16), dtype=np.float32)[:, ::2])
    with pytest.raises(TypeError, match="uint8 .* or bool"):
        deephash.unpack_bits(np.zeros((2, 2), dtype=np.int16), 16)
    with pytest.raises(ValueError, match="rows of 3 bytes"):
        deephash.unpack_bits(np.zeros((2, 3), dtype=np.uint8), 48)
