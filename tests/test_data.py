import gzip
import pickle
import socket
import time

import numpy as np
import pytest
import torch
from factories import labelled_by, small_fashion_cnn, write_idx

from course_lib import data as data_module
from course_lib.data import evaluation_subset, load_data
from course_lib.datafiles import read_idx
from course_lib.errors import CourseError


@pytest.mark.parametrize(
    ("name", "shape", "n_train"),
    [
        ("mnist", (1, 28, 28), 120),
        ("fashion-mnist", (1, 28, 28), 120),
        ("cifar10", (3, 32, 32), 100),
    ],
)
def test_upstream_formats_load_through_the_real_code_path(data_root, name, shape, n_train):
    bundle = load_data(name, data_root, val_size=10)
    assert bundle.input_shape == shape
    assert bundle.train.images.dtype == torch.uint8 and bundle.train.labels.dtype == torch.int64
    assert (len(bundle.train), len(bundle.val)) == (n_train - 10, 10)
    assert bundle.num_classes == 10


def test_idx_pixels_and_labels_survive_the_round_trip(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint32).reshape(2, 28, 28) % 256
    write_idx(tmp_path / "x.gz", images)
    assert np.array_equal(read_idx(tmp_path / "x.gz"), images)


def test_validation_split_is_the_same_for_every_seed_and_disjoint(data_root):
    a = load_data("mnist", data_root, val_size=20, seed=0)
    b = load_data("mnist", data_root, val_size=20, seed=7)
    assert torch.equal(a.val.images, b.val.images)
    all_train = {img.numpy().tobytes() for img in a.train.images}
    assert not any(img.numpy().tobytes() in all_train for img in a.val.images)


def test_subset_is_seeded(data_root):
    a = load_data("mnist", data_root, val_size=10, subset=30, seed=1)
    b = load_data("mnist", data_root, val_size=10, subset=30, seed=1)
    c = load_data("mnist", data_root, val_size=10, subset=30, seed=2)
    assert len(a.train) == 30 and torch.equal(a.train.labels, b.train.labels)
    assert not torch.equal(a.train.images, c.train.images)


def test_unknown_dataset_and_missing_folder_are_clear_errors(data_root):
    with pytest.raises(CourseError, match="choose one of mnist, fashion-mnist, cifar10"):
        load_data("imagenet", data_root)
    with pytest.raises(CourseError, match="does not exist"):
        load_data("mnist", data_root / "nope")


def test_truncated_idx_file_is_reported(data_root):
    path = data_root / "mnist" / "t10k-images-idx3-ubyte.gz"
    raw = gzip.open(path).read()
    with gzip.open(path, "wb") as f:
        f.write(raw[:-100])
    with pytest.raises(CourseError, match="truncated"):
        load_data("mnist", data_root, val_size=10)


def test_corrupt_gzip_and_cifar_pickle_are_reported(data_root):
    (data_root / "mnist" / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(CourseError, match="not a readable gzip"):
        load_data("mnist", data_root, val_size=10)
    (data_root / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"\x80\x04garbage")
    with pytest.raises(CourseError, match="not a CIFAR-10 python batch"):
        load_data("cifar10", data_root, val_size=10)


def test_no_data_and_no_network_names_the_three_ways(tmp_path, monkeypatch):
    monkeypatch.setattr(data_module, "SYSTEM_DATA", tmp_path / "system")

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr("torchvision.datasets.MNIST", offline)
    with pytest.raises(CourseError) as err:
        load_data("mnist", tmp_path)
    message = str(err.value)
    first = message.splitlines()[0]  # what was wrong and what to do; the detail follows
    assert first.startswith("No mnist files were found and downloading them failed: give data_dir")
    assert "COURSE_DATA" in first and "connect to the network" in first
    assert "OSError: network is unreachable" in message
    assert "apt-get install dataset-fashion-mnist" in message


def test_a_download_from_a_network_that_never_answers_ends_within_its_bound(
    tmp_path, monkeypatch, silent_server
):
    """Every request goes to a proxy on 127.0.0.1 that accepts and never answers."""
    host, port = silent_server
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, f"http://{host}:{port}")
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COURSE_NETWORK_TIMEOUT", "0.5")
    monkeypatch.setattr(data_module, "SYSTEM_DATA", tmp_path / "system")
    for name in ("mnist", "cifar10"):
        started = time.perf_counter()
        with pytest.raises(CourseError, match="downloading them failed: give data_dir") as err:
            load_data(name, tmp_path)
        assert time.perf_counter() - started < 15
        assert "each wait on the network lasts at most 0.5 s" in str(err.value)
        assert socket.getdefaulttimeout() is None  # the process's default is back


def test_a_data_dir_that_is_a_file_says_so(tmp_path):
    (tmp_path / "data").write_text("x")
    with pytest.raises(CourseError, match="Data folder .*data is a file, not a folder: give a"):
        load_data("mnist", tmp_path / "data")


class Payload:
    """What a hostile pickle holds: unpickling it opens (creates) the file ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_a_cifar_batch_carrying_code_is_refused_and_its_code_never_runs(data_root, tmp_path):
    marker = tmp_path / "pwned"
    batch = {b"data": Payload(marker), b"labels": [0] * 20}
    hostile = pickle.dumps(batch)
    pickle.loads(hostile)  # the plain unpickler runs the code ...
    assert marker.exists()
    marker.unlink()
    path = data_root / "cifar-10-batches-py" / "data_batch_2"
    for protocol in (0, 2, 5):
        path.write_bytes(pickle.dumps(batch, protocol=protocol))
        with pytest.raises(CourseError, match="data_batch_2 is not a CIFAR-10 python batch") as err:
            load_data("cifar10", data_root, val_size=10)
        assert "io.open, which no CIFAR-10 batch holds" in str(err.value)
        assert not marker.exists()  # ... the kit's never does


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_real_batches_of_every_pickle_protocol_and_numpy_1_load(data_root, protocol):
    folder = data_root / "cifar-10-batches-py"
    expected = pickle.loads((folder / "test_batch").read_bytes())
    batch = {**expected, b"batch_label": b"testing batch 1 of 1", b"filenames": [b"a.png"] * 20}
    raw = pickle.dumps(batch, protocol=protocol)
    if protocol == 2:  # as the real files were written: Python 2, numpy 1's module names
        raw = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    (folder / "test_batch").write_bytes(raw)
    test = load_data("cifar10", data_root, val_size=10).test
    assert torch.equal(test.labels, torch.tensor(expected[b"labels"]))
    assert torch.equal(test.images.flatten(1), torch.from_numpy(expected[b"data"]))


@pytest.mark.parametrize(
    "batch",
    [
        {b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, 10]},
        {b"data": np.zeros((4, 3072), np.float32), b"labels": [0, 1, 2, 3]},
        {b"data": np.zeros((4, 3071), np.uint8), b"labels": [0, 1, 2, 3]},
        {b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1]},
    ],
)
def test_a_batch_of_the_wrong_shape_or_labels_is_refused(data_root, batch):
    (data_root / "cifar-10-batches-py" / "data_batch_5").write_bytes(pickle.dumps(batch))
    with pytest.raises(CourseError, match="data_batch_5 holds data .* not a CIFAR-10 batch"):
        load_data("cifar10", data_root, val_size=10)


def test_loader_normalises_and_covers_every_image_once(data_root):
    bundle = load_data("mnist", data_root, val_size=10)
    loader = bundle.loader("train", batch_size=32, shuffle=True, seed=3)
    xs, ys = zip(*loader, strict=True)
    assert len(xs) == len(loader) == 4
    labels = torch.cat(ys)
    assert sorted(labels.tolist()) == sorted(bundle.train.labels.tolist())
    raw = bundle.train.images.float() / 255
    expected = ((raw - bundle.mean[0]) / bundle.std[0]).mean()
    assert torch.allclose(torch.cat(xs).mean(), expected, atol=1e-5)
    again = torch.cat([y for _, y in bundle.loader("train", 32, shuffle=True, seed=3)])
    assert torch.equal(labels, again)


def test_centred_data_is_pixels_over_255_minus_the_mean_without_the_std(data_root):
    bundle = load_data("mnist", data_root, val_size=10, normalize="center")
    x = next(iter(bundle.loader("train", 8)))[0]
    raw = bundle.train.images[:8].float() / 255
    assert torch.allclose(x, raw - bundle.mean[0], atol=1e-6)
    with pytest.raises(CourseError, match="normalize must be one of"):
        load_data("mnist", data_root, val_size=10, normalize="whiten")


def test_augmentation_is_a_padded_crop_possibly_flipped(data_root):
    bundle = load_data("cifar10", data_root, val_size=10)
    plain = next(iter(bundle.loader("train", 16)))[0]
    augmented = next(iter(bundle.loader("train", 16, augment=True, seed=5)))[0]
    zero = torch.tensor(bundle.mean).view(1, 3, 1, 1) / torch.tensor(bundle.std).view(1, 3, 1, 1)
    padded = torch.nn.functional.pad(plain + zero, (4, 4, 4, 4)) - zero  # pad with black pixels
    for image, source in zip(augmented, padded, strict=True):
        crops = [source[:, i : i + 32, j : j + 32] for i in range(9) for j in range(9)]
        candidates = crops + [c.flip(2) for c in crops]
        assert any(torch.allclose(image, c, atol=1e-5) for c in candidates)


def test_real_fashion_mnist_from_debian():
    bundle = load_data("fashion-mnist", "/usr/share/datasets/fashion-mnist")
    assert (len(bundle.train) + len(bundle.val), len(bundle.test)) == (60000, 10000)
    counts = torch.bincount(torch.cat([bundle.train.labels, bundle.val.labels]))
    assert counts.tolist() == [6000] * 10
    assert bundle.classes[9] == "Ankle boot"


def test_evaluation_subset_cuts_validation_and_test_only():
    model = small_fashion_cnn()
    data = labelled_by(model, n=20)
    cut = evaluation_subset(data, 7)
    assert (len(cut.train), len(cut.val), len(cut.test)) == (20, 7, 7)
    assert torch.equal(cut.val.images, data.val.images[:7])
    assert evaluation_subset(data, None) is data
    assert len(evaluation_subset(data, 100).test) == 20
    with pytest.raises(CourseError):
        evaluation_subset(data, 0)
