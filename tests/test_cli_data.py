"""`skfashion data info | verify | fetch` on the real files and on corrupted copies."""

import functools
import gzip
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from skfashion._cli import main
from skfashion._datasets import verify_fashion_mnist

TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture(scope="session")
def real_files():
    results = verify_fashion_mnist()
    assert all(r.ok for r in results), "the real Fashion-MNIST files are needed"
    return {r.file: Path(r.path) for r in results}


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No data anywhere: system folders hidden, empty cache, unreachable mirror."""
    monkeypatch.setenv("SKFASHION_SEARCH_SYSTEM", "0")
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "scikit_learn_data"))
    monkeypatch.setenv("SKFASHION_MIRROR", "http://127.0.0.1:9/")
    monkeypatch.delenv("SKFASHION_DATA", raising=False)
    return tmp_path / "scikit_learn_data" / "fashion-mnist"


@pytest.fixture
def test_copies(real_files, tmp_path):
    folder = tmp_path / "copies"
    folder.mkdir()
    for name in TEST_FILES:
        shutil.copyfile(real_files[name], folder / name)
    return folder


def test_verify_real_files(real_files, capsys):
    assert main(["data", "verify"]) == 0
    out = capsys.readouterr().out
    for name, path in real_files.items():
        assert f"OK      {name}" in out and str(path) in out
    assert out.count("actual   sha256 ") == 4
    assert "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888" in out
    assert "4 of 4 files OK." in out


def test_info_real_files(real_files, capsys):
    assert main(["data", "info"]) == 0
    out = capsys.readouterr().out
    assert "26.4 MB" in out and str(real_files["train-images-idx3-ubyte.gz"]) in out
    assert "9      Ankle boot      6000   1000" in out
    assert "total                 60000  10000" in out


def test_verify_reports_a_corrupt_copy(test_copies, isolated, capsys):
    path = test_copies / TEST_FILES[1]
    payload = bytearray(gzip.decompress(path.read_bytes()))
    payload[100] = (payload[100] + 1) % 10
    path.write_bytes(gzip.compress(bytes(payload)))
    assert main(["data", "verify", "--data-home", str(test_copies)]) == 1
    captured = capsys.readouterr()
    assert f"FAILED  {TEST_FILES[1]}" in captured.out and str(path) in captured.out
    assert f"OK      {TEST_FILES[0]}" in captured.out
    assert "MISSING train-images-idx3-ubyte.gz" in captured.out
    assert "1 of 4 files OK." in captured.out
    assert captured.err.startswith("skfashion: error: ") and "Traceback" not in captured.err


def test_fetch_from_a_folder(test_copies, isolated, capsys):
    assert main(["data", "fetch", "--subset", "test", "--data-home", str(test_copies)]) == 0
    out = capsys.readouterr().out
    assert "Fashion-MNIST test: 10,000 images, verified" in out
    assert str(test_copies / TEST_FILES[0]) in out


def test_fetch_downloads_from_a_mirror(test_copies, tmp_path, isolated, monkeypatch, capsys):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(test_copies))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    monkeypatch.setenv("SKFASHION_MIRROR", f"http://127.0.0.1:{server.server_address[1]}")
    target = tmp_path / "downloaded"
    try:
        assert main(["data", "fetch", "--subset", "test", "--data-home", str(target)]) == 0
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(p.name for p in target.iterdir()) == sorted(TEST_FILES)
    assert str(target / TEST_FILES[1]) in capsys.readouterr().out


def test_fetch_without_data_or_network_is_one_clear_error(isolated, capsys):
    assert main(["data", "fetch"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("skfashion: error: Fashion-MNIST train files")
    assert "apt-get install dataset-fashion-mnist" in captured.err
    assert "Traceback" not in captured.err


def test_fetch_of_a_corrupt_file_is_one_clear_error(test_copies, isolated, capsys):
    path = test_copies / TEST_FILES[0]
    path.write_bytes(path.read_bytes()[:1000])
    assert main(["data", "fetch", "--subset", "test", "--data-home", str(test_copies)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"skfashion: error: Fashion-MNIST file {path} is corrupt")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv, words",
    [
        ([], "required: COMMAND"),
        (["data"], "required: ACTION"),
        (["data", "bogus"], "invalid choice: 'bogus'"),
        (["data", "fetch", "--subset", "validation"], "invalid choice: 'validation'"),
        (["data", "verify", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_bad_command_lines_exit_2(argv, words, capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(argv)
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("skfashion") and words in err
