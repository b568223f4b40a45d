import subprocess
import os

import numpy as np
import pytest

import deephash
from conftest import SOURCE_DIR

FASHION_MODEL = SOURCE_DIR / "examples/models/fashion-mnist-48bit/model.dhm"


@pytest.mark.real_data
def test_model_encodes_numpy_images_as_its_sources_do(fashion_mnist_part, tmp_path):
    """The model encodes numpy images (NHWC and NHW) as it encodes the source they came from, in
    memory and to a file, and as the deephash command does: on every 5th test image of
    Fashion-MNIST (2,000), read by the same reader as the whole set."""
    model = deephash.load_model(str(FASHION_MODEL))
    assert model.bits == 48 and model.input_shape[0] == 1 and len(model.class_names) == 10
    spec = f"fashion-mnist:{fashion_mnist_part(60, 5)}@test"
    source = deephash.open_source(spec)
    n = 600
    images = np.stack([source.read(i) for i in range(n)])
    assert images.shape == (n, 28, 28, 1) and images.dtype == np.uint8
    codes, feats = model.encode(images)
    assert codes.shape == (n, 6) and feats is None
    codes_gray, _ = model.encode(images[..., 0])
    assert np.array_equal(codes, codes_gray)
    streamed = model.encode_source(source, progress=False)
    assert np.array_equal(streamed.codes[:n], codes) and np.array_equal(streamed.labels, source.labels)
    # The C++ API through the deephash command: the same codes for the same images.
    cli = os.environ.get("DEEPHASH_CLI")
    if not cli:
        pytest.skip("the deephash command was not built")
    if cli:
        out = tmp_path / "test.dhc"
        subprocess.run([cli, "encode", "--model", str(FASHION_MODEL), "--images", spec, "--out", str(out)],
                       check=True, capture_output=True)
        assert np.array_equal(deephash.load_encoded_set(str(out)).codes, streamed.codes)
        # Both record the model that made them, alike, so that search and eval can match them up.
        assert deephash.load_encoded_set(str(out)).model == streamed.model == model.digest
    path = tmp_path / "set.dhc"
    streamed.save(str(path))
    assert np.array_equal(deephash.load_encoded_set(str(path)).codes, streamed.codes)
    model.encode_source(source, out=str(tmp_path / "direct.dhc"), progress=False)
    assert np.array_equal(deephash.load_encoded_set(str(tmp_path / "direct.dhc")).codes, streamed.codes)


def test_encoded_sets_record_their_model(tmp_path):
    """A set encoded from Python records the model's digest, through a file too; another model's
    digest differs."""
    model = deephash.load_model(str(FASHION_MODEL))
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
    encoded = model.encode_source(deephash.array_source(images, rng.integers(0, 10, 20)), progress=False)
    assert len(model.digest) > 0 and encoded.model == model.digest
    encoded.save(str(tmp_path / "set.dhc"))
    assert deephash.load_encoded_set(str(tmp_path / "set.dhc")).model == model.digest
    other = deephash.load_model(str(SOURCE_DIR / "examples/models/cifar10-48bit/model.dhm"))
    assert other.digest != model.digest


def test_model_refuses_bad_images():
    model = deephash.load_model(str(FASHION_MODEL))
    with pytest.raises(ValueError, match="1-channel images, these have 3"):
        model.encode(np.zeros((2, 28, 28, 3), dtype=np.uint8))
    assert model.encode(np.zeros((2, 20, 20), dtype=np.uint8))[0].shape == (2, 6)  # resized by its transformation
    with pytest.raises(TypeError, match="uint8"):
        model.encode(np.zeros((2, 28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match="N x H x W"):
        model.encode(np.zeros((28, 28), dtype=np.uint8))
    with pytest.raises(FileNotFoundError):
        deephash.load_model("/nonexistent/model.dhm")


def test_a_corrupt_model_file_is_named(tmp_path):
    data = bytearray(FASHION_MODEL.read_bytes())
    data[len(data) // 2] ^= 0x55
    path = tmp_path / "broken.dhm"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="broken.dhm"):
        deephash.load_model(str(path))


def synthetic_images(rng, n):
    """Two classes a small CNN separates at once: dark images with a bright square top-left, or
    bottom-right."""
    labels = rng.integers(0, 2, n)
    images = rng.integers(0, 40, (n, 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        y = 4 if label == 0 else 16
        images[i, y : y + 8, y : y + 8] = 220
    return images, labels


def test_training_from_numpy_reports_progress_and_learns(rng, tmp_path):
    images, labels = synthetic_images(rng, 640)
    reports = []
    result = deephash.train(images, labels, bits=16, arch="fashion-mnist", epochs=2, batch=32, seed=3,
                            class_names=["top-left", "bottom-right"], progress=reports.append)
    # The preset trains the network (40 steps), then its hash layers on frozen features.
    network = [r for r in reports if r.until == 40]
    assert network and network[-1].iteration == 40 and reports[-1].iteration == reports[-1].until
    assert [r.iteration for r in network] == sorted(r.iteration for r in network)
    assert result.history["iteration"][-1] == 40 and result.history["loss"][-1] < result.history["loss"][0]
    model = result.model
    assert model.bits == 16 and model.class_names == ["top-left", "bottom-right"]
    test_images, test_labels = synthetic_images(np.random.default_rng(11), 200)
    codes, _ = model.encode(test_images)
    index = deephash.HammingIndex(16)
    index.add(codes)
    assert deephash.evaluate(index, codes, test_labels, test_labels, k=50).map > 0.9
    # The same seed and threads train the same weights, also from a Source over the same array.
    again = deephash.train(deephash.array_source(images, labels), bits=16, arch="fashion-mnist", epochs=2, batch=32, seed=3,
                           progress=False)
    assert np.array_equal(again.model.encode(test_images)[0], codes)
    path = tmp_path / "model.dhm"
    model.save(str(path))
    assert np.array_equal(deephash.load_model(str(path)).encode(test_images)[0], codes)
    # Without mirrors (the preset's are random) the same seed sees other images: other weights,
    # whose features differ (the codes of these easy images may well agree).
    unmirrored = deephash.train(images, labels, bits=16, arch="fashion-mnist", epochs=2, batch=32, seed=3, mirror="none",
                                progress=False)
    features = model.encode(test_images, features=True)[1]
    assert np.array_equal(again.model.encode(test_images, features=True)[1], features)
    assert not np.allclose(unmirrored.model.encode(test_images, features=True)[1], features)
    with pytest.raises(Exception, match="must be none, random or alternating"):
        deephash.train(images, labels, bits=16, arch="fashion-mnist", epochs=2, mirror="sideways", progress=False)


def test_a_time_budget_plans_the_epochs(rng):
    # 32x32 colour images: the cifar preset, whose epochs a budget plans (at least one, whole halves).
    images = rng.integers(0, 255, size=(48, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(48) % 2
    tight = deephash.train(images, labels, bits=8, minutes=1e-6, batch=16, progress=False)
    assert tight.epochs == 1
    fixed = deephash.train(images, labels, bits=8, epochs=1.5, minutes=1e-6, batch=16, progress=False)
    assert fixed.epochs == 1.5  # given epochs win over the budget
    with pytest.raises(Exception, match="time budget"):
        deephash.train(images, labels, bits=8, minutes=-1, batch=16, progress=False)


def test_an_exception_in_the_progress_callback_stops_training(rng):
    images, labels = synthetic_images(rng, 256)

    class Stop(Exception):
        pass

    def stop(progress):
        if progress.iteration >= 3:
            raise Stop()

    with pytest.raises(Stop):
        deephash.train(images, labels, bits=8, arch="fashion-mnist", epochs=4, batch=32, progress=stop)
    with pytest.raises(ValueError, match="needs their labels"):
        deephash.train(images, bits=8)
    with pytest.raises(ValueError, match="256 images but 3 labels"):
        deephash.train(images, labels[:3], bits=8)
