"""fetch_fashion_mnist on the real files, on corrupted copies of them, and downloading
them from a real HTTP server on the loopback interface."""

import _thread
import gzip
import http.server
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skfashion import CLASS_NAMES, fetch_fashion_mnist
from skfashion._datasets import DataIntegrityError, DataNotFoundError, verify_fashion_mnist

TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
TEST_IMAGES_SHA256 = "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
APT_HINT = "apt-get install dataset-fashion-mnist"


@pytest.fixture(scope="session")
def real_files():
    """Paths of the four real files as found on this machine, all verified."""
    results = verify_fashion_mnist()
    failed = [r.error for r in results if not r.ok]
    assert not failed, f"the real Fashion-MNIST files are needed: {failed}"
    return {r.file: Path(r.path) for r in results}


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A machine without the data: system folders hidden, an empty scikit-learn data
    home, and an unreachable mirror. Returns the skfashion cache folder."""
    monkeypatch.setenv("SKFASHION_SEARCH_SYSTEM", "0")
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "scikit_learn_data"))
    monkeypatch.setenv("SKFASHION_MIRROR", "http://127.0.0.1:9/")  # the discard port: refused
    monkeypatch.delenv("SKFASHION_DATA", raising=False)
    return tmp_path / "scikit_learn_data" / "fashion-mnist"


def copy_files(real_files, folder, names=TEST_FILES):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(real_files[name], folder / name)
    return folder


def files_in(folder):
    return sorted(p.name for p in Path(folder).rglob("*")) if Path(folder).exists() else []


# corruptions of a .gz file's bytes
def truncate_gzip(raw):
    return raw[: len(raw) // 2]


def flip_payload_byte(raw):
    payload = bytearray(gzip.decompress(raw))
    payload[5000] ^= 0xFF
    return gzip.compress(bytes(payload), compresslevel=1)


def wrong_magic(raw):
    payload = bytearray(gzip.decompress(raw))
    payload[2:4] = (2049).to_bytes(2, "big")
    return gzip.compress(bytes(payload), compresslevel=1)


def not_gzipped(raw):
    return gzip.decompress(raw)


CORRUPTIONS = {
    truncate_gzip: "truncated or not a valid gzip file",
    flip_payload_byte: f"expected {TEST_IMAGES_SHA256}",
    wrong_magic: "magic number is 2049, expected 2051",
    not_gzipped: "truncated or not a valid gzip file",
}


# --- the real data -----------------------------------------------------------------


def test_class_names_name_the_real_images(fashion_test):
    """TensorFlow's classification tutorial shows test images 0, 1, 2 and 12 as these."""
    names = [CLASS_NAMES[fashion_test.target[i]] for i in (0, 1, 2, 12)]
    assert names == ["Ankle boot", "Pullover", "Trouser", "Sneaker"]
    assert len(set(CLASS_NAMES)) == len(np.unique(fashion_test.target)) == 10


@pytest.mark.parametrize(
    "fixture, n_samples, per_class", [("fashion_train", 60000, 6000), ("fashion_test", 10000, 1000)]
)
def test_real_subsets(request, fixture, n_samples, per_class):
    bunch = request.getfixturevalue(fixture)
    assert bunch.data.shape == (n_samples, 784) and bunch.data.dtype == np.uint8
    assert bunch.images.shape == (n_samples, 28, 28) and bunch.images.dtype == np.uint8
    assert bunch.target.shape == (n_samples,) and bunch.target.dtype == np.int64
    assert np.bincount(bunch.target).tolist() == [per_class] * 10
    assert bunch.target_names == list(CLASS_NAMES)
    assert bunch.target_names[bunch.target[0]] == "Ankle boot"
    assert bunch.data.min() == 0 and bunch.data.max() == 255
    assert bunch.feature_names[:2] == ["pixel_0", "pixel_1"] and len(bunch.feature_names) == 784
    assert "MIT" in bunch.DESCR and "zalandoresearch/fashion-mnist" in bunch.DESCR
    for path in bunch.filenames.values():
        assert path in bunch.DESCR


def test_images_are_a_view_of_data(fashion_test):
    assert np.shares_memory(fashion_test.images, fashion_test.data)
    np.testing.assert_array_equal(fashion_test.images[7].ravel(), fashion_test.data[7])
    np.testing.assert_array_equal(fashion_test.images[7, 3], fashion_test.data[7, 3 * 28 : 4 * 28])


def test_each_call_returns_fresh_writable_arrays(fashion_test):
    bunch = fetch_fashion_mnist(subset="test")
    bunch.data[:] = 0
    np.testing.assert_array_equal(fetch_fashion_mnist(subset="test").data, fashion_test.data)


def test_subset_all_is_train_then_test(fashion_train, fashion_test):
    both = fetch_fashion_mnist(subset="all")
    assert both.data.shape == (70000, 784)
    assert np.shares_memory(both.images, both.data)
    np.testing.assert_array_equal(both.data[:60000], fashion_train.data)
    np.testing.assert_array_equal(both.data[60000:], fashion_test.data)
    np.testing.assert_array_equal(both.target, np.r_[fashion_train.target, fashion_test.target])
    assert np.bincount(both.target).tolist() == [7000] * 10


def test_as_frame(fashion_test):
    bunch = fetch_fashion_mnist(subset="test", as_frame=True)
    assert isinstance(bunch.frame, pd.DataFrame) and bunch.frame.shape == (10000, 785)
    assert list(bunch.frame.columns) == [f"pixel_{i}" for i in range(784)] + ["target"]
    assert isinstance(bunch.data, pd.DataFrame) and bunch.data.shape == (10000, 784)
    assert isinstance(bunch.target, pd.Series) and bunch.target.name == "target"
    np.testing.assert_array_equal(bunch.data.to_numpy(), fashion_test.data)
    np.testing.assert_array_equal(bunch.target.to_numpy(), fashion_test.target)
    np.testing.assert_array_equal(bunch.images, fashion_test.images)


@pytest.mark.parametrize("as_frame", [False, True])
def test_return_X_y(fashion_test, as_frame):
    X, y = fetch_fashion_mnist(subset="test", return_X_y=True, as_frame=as_frame)
    assert isinstance(X, pd.DataFrame if as_frame else np.ndarray)
    assert isinstance(y, pd.Series if as_frame else np.ndarray)
    np.testing.assert_array_equal(np.asarray(X), fashion_test.data)
    np.testing.assert_array_equal(np.asarray(y), fashion_test.target)


def test_verify_fashion_mnist_reports_real_files(real_files):
    results = verify_fashion_mnist()
    assert [r.file for r in results] == list(real_files)
    assert all(r.ok and r.sha256 == r.expected_sha256 for r in results)
    counts = {r.subset: r.class_counts.tolist() for r in results if r.class_counts is not None}
    assert counts == {"train": [6000] * 10, "test": [1000] * 10}


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"subset": "validation"}, ValueError, ["'validation'", "'train'", "'test'", "'all'"]),
        ({"subset": 1}, ValueError, ["subset", "1"]),
        ({"data_home": 3}, TypeError, ["data_home", "3"]),
        ({"as_frame": "yes"}, TypeError, ["as_frame", "'yes'"]),
        ({"return_X_y": None}, TypeError, ["return_X_y", "None"]),
        ({"download_if_missing": 0}, TypeError, ["download_if_missing"]),
    ],
)
def test_invalid_arguments(kwargs, error, words):
    with pytest.raises(error) as excinfo:
        fetch_fashion_mnist(**kwargs)
    for word in words:
        assert word in str(excinfo.value)


# --- where the files are looked for ------------------------------------------------


@pytest.mark.parametrize("how", ["data_home", "SKFASHION_DATA"])
def test_own_folder_comes_before_the_system_folders(real_files, tmp_path, monkeypatch, how):
    folder = copy_files(real_files, tmp_path / "mine")
    monkeypatch.delenv("SKFASHION_SEARCH_SYSTEM", raising=False)
    if how == "SKFASHION_DATA":
        monkeypatch.setenv("SKFASHION_DATA", str(folder))
    bunch = fetch_fashion_mnist(subset="test", data_home=folder if how == "data_home" else None)
    assert bunch.filenames == {name: str(folder / name) for name in TEST_FILES}
    assert f"({how}, verified)" in bunch.DESCR


def test_a_subset_needs_only_its_own_two_files(real_files, tmp_path, isolated):
    folder = copy_files(real_files, tmp_path / "mine")
    assert fetch_fashion_mnist(subset="test", data_home=folder).data.shape == (10000, 784)
    with pytest.raises(DataNotFoundError, match="train files"):
        fetch_fashion_mnist(subset="train", data_home=folder, download_if_missing=False)


def test_missing_file_without_download(real_files, tmp_path, isolated):
    folder = copy_files(real_files, tmp_path / "mine", names=TEST_FILES[:1])
    with pytest.raises(DataNotFoundError) as excinfo:
        fetch_fashion_mnist(subset="test", data_home=folder, download_if_missing=False)
    message = str(excinfo.value)
    assert isinstance(excinfo.value, OSError)
    assert "download_if_missing=False" in message
    assert f"data_home: {folder} (missing t10k-labels-idx1-ubyte.gz)" in message
    assert f"skfashion cache: {isolated} (no such folder)" in message
    assert "SKFASHION_SEARCH_SYSTEM=0" in message
    assert "/usr/share/datasets" not in message  # hidden, so not claimed as searched
    for way in ("download_if_missing=True", APT_HINT, "SKFASHION_DATA"):
        assert way in message
    assert files_in(folder) == [TEST_FILES[0]]


# --- corrupted copies --------------------------------------------------------------


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=lambda f: f.__name__)
def test_corrupt_file_gives_one_clear_error(real_files, tmp_path, isolated, corrupt):
    folder = copy_files(real_files, tmp_path / "mine")
    path = folder / TEST_FILES[0]
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(DataIntegrityError) as excinfo:
        fetch_fashion_mnist(subset="test", data_home=folder)
    message = str(excinfo.value)
    assert str(path) in message and CORRUPTIONS[corrupt] in message
    assert "Delete it and run again" in message
    assert excinfo.value.filename == str(path)
    assert files_in(folder) == sorted(TEST_FILES)  # reported, not deleted behind the user's back


def test_flipped_byte_reports_both_hashes(real_files, tmp_path, isolated):
    folder = copy_files(real_files, tmp_path / "mine")
    path = folder / TEST_FILES[0]
    path.write_bytes(flip_payload_byte(path.read_bytes()))
    with pytest.raises(DataIntegrityError) as excinfo:
        fetch_fashion_mnist(subset="test", data_home=folder)
    error = excinfo.value
    assert error.expected_sha256 == TEST_IMAGES_SHA256
    assert len(error.actual_sha256) == 64 and error.actual_sha256 != TEST_IMAGES_SHA256
    assert error.actual_sha256 in str(error)


def test_corrupt_file_in_SKFASHION_DATA_says_how_to_fix(real_files, tmp_path, monkeypatch):
    folder = copy_files(real_files, tmp_path / "mine")
    (folder / TEST_FILES[1]).write_bytes(truncate_gzip((folder / TEST_FILES[1]).read_bytes()))
    monkeypatch.setenv("SKFASHION_DATA", str(folder))
    with pytest.raises(DataIntegrityError, match="unset SKFASHION_DATA"):
        fetch_fashion_mnist(subset="test")


def test_verification_is_cached_per_path_size_and_mtime(real_files, tmp_path, isolated):
    folder = copy_files(real_files, tmp_path / "mine")
    fetch_fashion_mnist(subset="test", data_home=folder)
    from skfashion import _datasets

    calls = []
    sha256 = _datasets.hashlib.sha256

    class CountingHashlib:
        @staticmethod
        def sha256(data):
            calls.append(len(data))
            return sha256(data)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_datasets, "hashlib", CountingHashlib)
        fetch_fashion_mnist(subset="test", data_home=folder)
        assert calls == []
        # a changed file is checked again
        path = folder / TEST_FILES[0]
        path.write_bytes(flip_payload_byte(path.read_bytes()))
        with pytest.raises(DataIntegrityError):
            fetch_fashion_mnist(subset="test", data_home=folder)
        assert len(calls) == 1


def test_verify_reports_each_file_and_never_raises(real_files, tmp_path, isolated):
    folder = copy_files(real_files, tmp_path / "mine")
    path = folder / TEST_FILES[0]
    path.write_bytes(flip_payload_byte(path.read_bytes()))
    results = {r.file: r for r in verify_fashion_mnist(data_home=folder)}
    images, labels = results[TEST_FILES[0]], results[TEST_FILES[1]]
    assert not images.ok and images.path == str(path) and images.place == "data_home"
    assert images.sha256 != images.expected_sha256 and images.sha256 in images.error
    assert labels.ok and labels.class_counts.tolist() == [1000] * 10
    train = results["train-images-idx3-ubyte.gz"]
    assert not train.ok and train.path is None and "not found" in train.error


# --- downloads from a real HTTP server on 127.0.0.1 --------------------------------


class Mirror:
    """Serves `folder` on 127.0.0.1; records requested names; misbehaves on request."""

    def __init__(self, folder):
        self.folder = folder
        self.requests = []
        self.die_midway = set()  # close the connection after half the body
        self.interrupt_midway = set()  # Ctrl-C in the main thread after half the body
        mirror = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def log_message(self, *args):
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                mirror.requests.append(name)
                if name in mirror.die_midway | mirror.interrupt_midway:
                    body = (folder / name).read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    if name in mirror.interrupt_midway:
                        _thread.interrupt_main()
                        time.sleep(0.5)
                        self.wfile.write(body[len(body) // 2 :])
                    self.close_connection = True
                    return
                super().do_GET()

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # the client hung up, as a test asked it to

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)


@pytest.fixture
def mirror(real_files, tmp_path, isolated, monkeypatch):
    mirror = Mirror(copy_files(real_files, tmp_path / "served"))
    mirror.thread.start()
    monkeypatch.setenv("SKFASHION_MIRROR", mirror.url)
    yield mirror
    mirror.server.shutdown()
    mirror.server.server_close()


def test_download_verifies_and_caches(mirror, isolated):
    bunch = fetch_fashion_mnist(subset="test")
    assert bunch.data.shape == (10000, 784)
    assert np.bincount(bunch.target).tolist() == [1000] * 10
    assert sorted(mirror.requests) == sorted(TEST_FILES)
    assert files_in(isolated) == sorted(TEST_FILES)
    assert bunch.filenames == {name: str(isolated / name) for name in TEST_FILES}
    assert "(skfashion cache, verified)" in bunch.DESCR

    again = fetch_fashion_mnist(subset="test", download_if_missing=False)
    assert len(mirror.requests) == 2  # served from the cache
    np.testing.assert_array_equal(again.data, bunch.data)


def test_download_into_data_home_fetches_only_missing_files(mirror, real_files, tmp_path, isolated):
    folder = copy_files(real_files, tmp_path / "mine", names=TEST_FILES[1:])
    bunch = fetch_fashion_mnist(subset="test", data_home=folder)
    assert mirror.requests == [TEST_FILES[0]]
    assert files_in(folder) == sorted(TEST_FILES)
    assert bunch.filenames[TEST_FILES[0]] == str(folder / TEST_FILES[0])
    assert not isolated.exists()


@pytest.mark.parametrize("corrupt", [flip_payload_byte, truncate_gzip], ids=lambda f: f.__name__)
def test_download_of_a_bad_file_is_rejected_and_not_kept(mirror, isolated, corrupt):
    served = mirror.folder / TEST_FILES[0]
    served.write_bytes(corrupt(served.read_bytes()))
    with pytest.raises(DataIntegrityError) as excinfo:
        fetch_fashion_mnist(subset="test")
    message = str(excinfo.value)
    assert mirror.url + TEST_FILES[0] in message and CORRUPTIONS[corrupt] in message
    assert "nothing was kept" in message and "SKFASHION_MIRROR" in message
    assert files_in(isolated) == []


def test_download_of_a_missing_file_404(mirror, isolated):
    (mirror.folder / TEST_FILES[1]).unlink()
    with pytest.raises(DataNotFoundError) as excinfo:
        fetch_fashion_mnist(subset="test")
    message = str(excinfo.value)
    assert "404" in message and mirror.url + TEST_FILES[1] in message
    for way in ("Searched:", APT_HINT, "SKFASHION_DATA"):
        assert way in message
    assert files_in(isolated) == [TEST_FILES[0]]  # the good file is kept, verified


def test_server_dying_midway_leaves_nothing(mirror, isolated):
    mirror.die_midway.add(TEST_FILES[0])
    with pytest.raises(DataNotFoundError, match="downloading .* failed"):
        fetch_fashion_mnist(subset="test")
    assert mirror.requests == [TEST_FILES[0]]
    assert files_in(isolated.parent) == []


def test_unreachable_server(isolated):
    with pytest.raises(DataNotFoundError) as excinfo:
        fetch_fashion_mnist(subset="test")
    assert "http://127.0.0.1:9/t10k-images-idx3-ubyte.gz failed" in str(excinfo.value)
    assert "Connection refused" in str(excinfo.value)
    assert files_in(isolated.parent) == []


def test_ctrl_c_during_download_leaves_nothing(mirror, isolated):
    mirror.interrupt_midway.add(TEST_FILES[0])
    with pytest.raises(KeyboardInterrupt):
        fetch_fashion_mnist(subset="test")
    time.sleep(0.1)
    assert files_in(isolated.parent) == []


@pytest.mark.parametrize("how", ["parent is a file", "chmod 555"])
def test_unwritable_download_folder(mirror, tmp_path, how):
    if how == "parent is a file":
        (tmp_path / "blocker").write_text("not a folder")
        data_home = tmp_path / "blocker" / "fashion-mnist"
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        data_home = locked / "fashion-mnist"
        if os.access(locked, os.W_OK):
            pytest.skip("this user (root?) can write to a chmod 555 folder")
    with pytest.raises(DataNotFoundError) as excinfo:
        fetch_fashion_mnist(subset="test", data_home=data_home)
    message = str(excinfo.value)
    assert f"the download folder {data_home} cannot be written to" in message
    assert "data_home" in message and "SKFASHION_DATA" in message
    assert mirror.requests == []
