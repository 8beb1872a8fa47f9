"""Fashion-MNIST: find, download, verify and load the real data files.

Every file is verified before its contents are used: the IDX header (magic
number and dimensions) and the SHA-256 of the decompressed payload, which is
the same in every distribution (the gzip wrappers are not).
"""

import contextlib
import gzip
import hashlib
import os
import struct
import sys
import uuid
import zlib
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

__all__ = [
    "CLASS_NAMES",
    "DataIntegrityError",
    "DataNotFoundError",
    "fetch_fashion_mnist",
    "verify_fashion_mnist",
]

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# Read at call time, so tests and users can point skfashion elsewhere.
DEFAULT_MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
KERAS_DIR = Path("~/.keras/datasets/fashion-mnist")
DOWNLOAD_TIMEOUT = 60

_HOMEPAGE = "https://github.com/zalandoresearch/fashion-mnist"
_APT_INSTALL = "sudo apt-get install dataset-fashion-mnist"


class DataNotFoundError(OSError):
    """The Fashion-MNIST files are in no searched folder and could not be downloaded.

    The message lists every folder searched and the three ways to get the data.
    Subclasses :class:`OSError`, like scikit-learn's fetchers' errors.
    """


class DataIntegrityError(ValueError):
    """A Fashion-MNIST file is truncated, corrupted or not what it claims to be.

    Attributes
    ----------
    filename : str
        The offending file (or URL, for a download).
    expected_sha256, actual_sha256 : str or None
        SHA-256 of the decompressed payload, when the file could be decompressed.
    """

    def __init__(self, message, *, filename=None, expected_sha256=None, actual_sha256=None):
        super().__init__(message)
        self.filename = filename
        self.expected_sha256 = expected_sha256
        self.actual_sha256 = actual_sha256


class _IdxSpec(NamedTuple):
    magic: int
    shape: tuple
    sha256: str


N_IMAGES = MappingProxyType({"train": 60_000, "test": 10_000})
"""Number of images in each subset of Fashion-MNIST."""

_FILES = {
    "train-images-idx3-ubyte.gz": _IdxSpec(
        2051,
        (N_IMAGES["train"], 28, 28),
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    "train-labels-idx1-ubyte.gz": _IdxSpec(
        2049,
        (N_IMAGES["train"],),
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    "t10k-images-idx3-ubyte.gz": _IdxSpec(
        2051,
        (N_IMAGES["test"], 28, 28),
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    "t10k-labels-idx1-ubyte.gz": _IdxSpec(
        2049,
        (N_IMAGES["test"],),
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
}
# (images file, labels file) of each part of the data
_PARTS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_SUBSETS = {"train": ("train",), "test": ("test",), "all": ("train", "test")}

# (resolved path, size, mtime_ns) of the files whose payload hash matched in this process
_VERIFIED = set()


class _Place(NamedTuple):
    name: str
    folder: Path


_FIXES = {
    "data_home": "Delete it and run again to download a fresh copy.",
    "SKFASHION_DATA": "Replace it with a good copy, or unset SKFASHION_DATA.",
    "Debian package": "Reinstall the package: sudo apt-get install --reinstall "
    "dataset-fashion-mnist.",
    "Keras cache": "Delete it; skfashion then uses the next folder or downloads a fresh copy.",
    "skfashion cache": "Delete it and run again to download a fresh copy.",
}


def _default_cache():
    # sklearn.datasets.get_data_home()'s rule, without creating the folder
    home = os.environ.get("SCIKIT_LEARN_DATA", os.path.join("~", "scikit_learn_data"))
    return Path(home).expanduser() / "fashion-mnist"


def _search_places(data_home):
    places = []
    if data_home is not None:
        places.append(_Place("data_home", Path(data_home).expanduser()))
    elif os.environ.get("SKFASHION_DATA"):
        places.append(_Place("SKFASHION_DATA", Path(os.environ["SKFASHION_DATA"]).expanduser()))
    if os.environ.get("SKFASHION_SEARCH_SYSTEM", "1") != "0":
        places.append(_Place("Debian package", DEBIAN_DIR))
        places.append(_Place("Keras cache", KERAS_DIR.expanduser()))
    places.append(_Place("skfashion cache", _default_cache()))
    unique = []
    for place in places:
        if all(place.folder != seen.folder for seen in unique):
            unique.append(place)
    return unique


def _download_place(data_home):
    if data_home is not None:
        return _Place("data_home", Path(data_home).expanduser())
    return _Place("skfashion cache", _default_cache())


def _locate(part, places):
    """The first place holding both files of `part`, or None."""
    for place in places:
        if all((place.folder / name).is_file() for name in _PARTS[part]):
            return place
    return None


def _describe_places(places, names):
    lines = []
    for place in places:
        if not place.folder.is_dir():
            state = "no such folder"
        else:
            missing = [name for name in names if not (place.folder / name).is_file()]
            state = "missing " + ", ".join(missing) if missing else "has the files"
        lines.append(f"  - {place.name}: {place.folder} ({state})")
    if os.environ.get("SKFASHION_SEARCH_SYSTEM", "1") == "0":
        lines.append("  (Debian package and Keras cache not searched: SKFASHION_SEARCH_SYSTEM=0)")
    return lines


def _not_found(part, places, reason):
    names = _PARTS[part]
    lines = [
        f"Fashion-MNIST {part} files ({', '.join(names)}) not found, and {reason}.",
        "Searched:",
        *_describe_places(places, names),
        "Get the data in one of three ways:",
        f"  1. download it: download_if_missing=True with network access to "
        f"{_mirror()} (set SKFASHION_MIRROR for another mirror);",
        f"  2. install the Debian/Ubuntu package: {_APT_INSTALL};",
        "  3. set SKFASHION_DATA (or pass data_home) to a folder holding the four files "
        + ", ".join(_FILES)
        + ".",
    ]
    return DataNotFoundError("\n".join(lines))


def _mirror():
    return os.environ.get("SKFASHION_MIRROR") or DEFAULT_MIRROR


def _corrupt(shown, problem, fix, **hashes):
    return DataIntegrityError(
        f"Fashion-MNIST file {shown} is corrupt: {problem}. {fix}", filename=str(shown), **hashes
    )


def _read_idx(path, name, fix, *, check_hash=True, shown=None):
    """Decompress, check and parse one IDX file; raise DataIntegrityError on any fault.

    `shown` is how messages name the file (default: its path).
    """
    spec = _FILES[name]
    shown = path if shown is None else shown
    stat = os.stat(path)
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    header_size = 4 * (1 + len(spec.shape))
    try:
        with gzip.open(path, "rb") as f:
            header = f.read(header_size)
            if len(header) < header_size:
                raise _corrupt(shown, f"only {len(header)} bytes after decompression", fix)
            magic, *shape = struct.unpack(f">{1 + len(spec.shape)}i", header)
            if magic != spec.magic:
                raise _corrupt(
                    shown, f"its IDX magic number is {magic}, expected {spec.magic}", fix
                )
            if tuple(shape) != spec.shape:
                raise _corrupt(
                    shown,
                    f"its IDX header says shape {tuple(shape)}, expected {spec.shape}",
                    fix,
                )
            array = np.empty(spec.shape, dtype=np.uint8)
            n_read = f.readinto(memoryview(array).cast("B"))
            trailing = f.read(1)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise _corrupt(shown, f"it is truncated or not a valid gzip file ({exc})", fix) from exc
    if n_read != array.size or trailing:
        raise _corrupt(shown, "its payload is not as long as its IDX header says", fix)
    if check_hash or key not in _VERIFIED:
        digest = hashlib.sha256(header)
        digest.update(array)
        actual = digest.hexdigest()
        if actual != spec.sha256:
            raise _corrupt(
                shown,
                f"SHA-256 of its decompressed contents is {actual}, expected {spec.sha256}",
                fix,
                expected_sha256=spec.sha256,
                actual_sha256=actual,
            )
        _VERIFIED.add(key)
    return array


def _show_progress():
    return sys.stderr.isatty()


def _download(name, place):
    """Download `name` into `place`, verify it under a temporary name, then move it in."""
    import pooch

    url = _mirror().rstrip("/") + "/" + name
    target = place.folder / name
    created = not place.folder.is_dir()
    try:
        place.folder.mkdir(parents=True, exist_ok=True)
        partial = place.folder / f".{name}.{uuid.uuid4().hex[:12]}.part"
        partial.touch(exist_ok=False)
    except OSError as exc:
        raise DataNotFoundError(
            f"the download folder {place.folder} cannot be written to ({exc}); pass "
            "data_home= (or --data-home) a writable folder"
        ) from exc
    try:
        downloader = pooch.HTTPDownloader(
            progressbar=_show_progress(), chunk_size=1 << 16, timeout=DOWNLOAD_TIMEOUT
        )
        downloader(url, str(partial), None)
        fix = (
            f"The mirror {_mirror()} does not serve the real Fashion-MNIST file; nothing was "
            "kept. Check SKFASHION_MIRROR, or get the data another way."
        )
        _read_idx(partial, name, fix, shown=url)
        os.replace(partial, target)
    except BaseException as exc:
        partial.unlink(missing_ok=True)
        if created:
            with contextlib.suppress(OSError):  # not empty: another file arrived meanwhile
                place.folder.rmdir()
        if isinstance(exc, OSError):  # requests' errors are OSErrors too
            raise DataNotFoundError(f"downloading {url} failed: {exc}") from exc
        raise
    stat = target.stat()
    _VERIFIED.add((str(target.resolve()), stat.st_size, stat.st_mtime_ns))
    return target


def _obtain(part, data_home, download_if_missing):
    """Paths of (images, labels) of `part`, and the place they come from."""
    places = _search_places(data_home)
    place = _locate(part, places)
    if place is None:
        if not download_if_missing:
            raise _not_found(part, places, "download_if_missing=False")
        place = _download_place(data_home)
        for name in _PARTS[part]:
            if not (place.folder / name).is_file():
                try:
                    _download(name, place)
                except DataNotFoundError as exc:
                    raise _not_found(part, places, str(exc)) from exc
    return place, [place.folder / name for name in _PARTS[part]]


def _check_bool(name, value):
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {value!r}.")


def _check_args(subset, data_home):
    if not isinstance(subset, str) or subset not in _SUBSETS:
        raise ValueError(f"subset must be one of {', '.join(map(repr, _SUBSETS))}; got {subset!r}.")
    if data_home is not None and not isinstance(data_home, str | os.PathLike):
        raise TypeError(f"data_home must be None, a str or a path-like object, got {data_home!r}.")


def _describe(subset, n_samples, sources):
    loaded = "\n".join(
        f"    {path}  ({place.name}, verified)" for place, paths in sources for path in paths
    )
    classes = "\n".join(f"    {label}  {name}" for label, name in enumerate(CLASS_NAMES))
    n_train, n_test, n_classes = N_IMAGES["train"], N_IMAGES["test"], len(CLASS_NAMES)
    return f"""\
.. _fashion_mnist_dataset:

Fashion-MNIST dataset
---------------------

Zalando's article images: {n_train + n_test:,} grayscale 28x28 pictures of clothing in
{n_classes} classes, {n_train:,} for training and {n_test:,} for testing, in the IDX format
of the original MNIST, of which it is a drop-in replacement.

**Data Set Characteristics:**

:Subset: {subset} ({n_samples:,} images{", train first" if subset == "all" else ""})
:Number of Attributes: 784 = 28x28 pixel intensities, row by row (0 = background)
:Classes: {n_classes}, balanced ({n_train // n_classes:,} per class in train, \
{n_test // n_classes:,} in test):
{classes}
:Licence: MIT, Copyright (c) 2017 Zalando SE
:Source: {_HOMEPAGE}
:Loaded from:
{loaded}

Each file was checked against the SHA-256 of its decompressed payload.

.. rubric:: References

Han Xiao, Kashif Rasul, Roland Vollgraf. Fashion-MNIST: a Novel Image Dataset for
Benchmarking Machine Learning Algorithms. arXiv:1708.07747, 2017.
"""


def fetch_fashion_mnist(
    *, subset="train", data_home=None, download_if_missing=True, return_X_y=False, as_frame=False
):
    """Load the Fashion-MNIST dataset, verified, from a local copy or a download.

    ====================   ==================
    Classes                                10
    Samples total                      70,000
    Samples train / test        60,000/10,000
    Dimensionality              784 (28 x 28)
    Features                integers 0 to 255
    ====================   ==================

    The four IDX files are searched, in this order, in

    1. ``data_home`` if given, else the folder named by the ``SKFASHION_DATA``
       environment variable;
    2. the Debian/Ubuntu package folder ``/usr/share/datasets/fashion-mnist``
       (``sudo apt-get install dataset-fashion-mnist``);
    3. Keras' cache ``~/.keras/datasets/fashion-mnist``;
    4. skfashion's cache ``fashion-mnist`` inside
       :func:`sklearn.datasets.get_data_home`;

    and downloaded into that cache (or into ``data_home`` when given) if no
    folder holds them. Each part of the data (train, test) comes from the first
    folder that holds both its images and its labels file, so a subset needs
    only its own two files.

    Parameters
    ----------
    subset : {"train", "test", "all"}, default="train"
        The 60,000 training images, the 10,000 test images, or all 70,000 with
        the training images first.

    data_home : str or path-like, default=None
        A folder holding the four ``.gz`` files, searched first; it is also
        where missing files are downloaded to. By default the files are looked
        for in ``SKFASHION_DATA`` and the shared folders above, and downloaded
        to skfashion's cache.

    download_if_missing : bool, default=True
        If False, raise :class:`DataNotFoundError` instead of downloading.

    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame with columns ``pixel_0`` to
        ``pixel_783``, ``target`` a Series, and the Bunch has ``frame``, both
        together.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : ndarray of shape (n_samples, 784), dtype uint8, or DataFrame
            Each row is one image, flattened row by row.
        images : ndarray of shape (n_samples, 28, 28), dtype uint8
            The same images as 28x28 arrays, a view of ``data``'s memory
            (of a copy of it when ``as_frame=True``).
        target : ndarray of shape (n_samples,), dtype int64, or Series
            The labels, 0 to 9.
        target_names : list of str
            The class names in label order, :data:`CLASS_NAMES`.
        feature_names : list of str
            ``pixel_0`` to ``pixel_783``.
        frame : DataFrame of shape (n_samples, 785)
            Only when ``as_frame=True``: ``data`` and ``target`` together.
        filenames : dict of str to str
            Path of each file the data was read from.
        DESCR : str
            Description of the dataset, its licence and where it was loaded from.

    (data, target) : tuple if ``return_X_y`` is True
        ``data`` and ``target`` as described above.

    Raises
    ------
    DataNotFoundError
        If no searched folder holds the files and they cannot be downloaded
        (``download_if_missing=False``, no network, an unwritable cache). The
        message lists the folders searched and the ways to get the data.
    DataIntegrityError
        If a file found or downloaded is truncated, corrupted or has the wrong
        header. The message names the file, the expected and actual SHA-256
        and what to do. A downloaded file that fails verification is not kept.
    ValueError, TypeError
        If an argument is invalid.

    See Also
    --------
    verify_fashion_mnist : Locate and verify the four files without loading them.
    sklearn.datasets.fetch_openml : Loads OpenML's copy (``"Fashion-MNIST"``), unverified.

    Notes
    -----
    Environment variables, read at each call: ``SKFASHION_DATA`` (a folder
    with the files), ``SKFASHION_MIRROR`` (base URL to download from, default
    the dataset's own site), ``SCIKIT_LEARN_DATA`` (scikit-learn's data home)
    and ``SKFASHION_SEARCH_SYSTEM=0``, which skips the Debian package folder
    and Keras' cache (used by the tests to see an empty machine).

    Files are verified once per process, per path, size and modification
    time; the download shows a progress bar when standard error is a terminal.

    Examples
    --------
    >>> from skfashion import fetch_fashion_mnist
    >>> test = fetch_fashion_mnist(subset="test")
    >>> test.data.shape, test.images.shape, test.target.shape
    ((10000, 784), (10000, 28, 28), (10000,))
    >>> test.target_names[test.target[0]]
    'Ankle boot'
    """
    from sklearn.utils import Bunch

    _check_args(subset, data_home)
    for name, value in [
        ("download_if_missing", download_if_missing),
        ("return_X_y", return_X_y),
        ("as_frame", as_frame),
    ]:
        _check_bool(name, value)

    sources, images, labels = [], [], []
    for part in _SUBSETS[subset]:
        place, (images_path, labels_path) = _obtain(part, data_home, download_if_missing)
        fix = _FIXES[place.name]
        images.append(_read_idx(images_path, images_path.name, fix, check_hash=False))
        labels.append(_read_idx(labels_path, labels_path.name, fix, check_hash=False))
        sources.append((place, (images_path, labels_path)))

    images = images[0] if len(images) == 1 else np.concatenate(images)
    data = images.reshape(len(images), -1)
    images = data.reshape(-1, 28, 28)
    target = np.concatenate(labels).astype(np.int64)
    feature_names = [f"pixel_{i}" for i in range(data.shape[1])]
    bunch = Bunch(
        data=data,
        images=images,
        target=target,
        target_names=list(CLASS_NAMES),
        feature_names=feature_names,
        filenames={path.name: str(path) for _, paths in sources for path in paths},
        DESCR=_describe(subset, len(target), sources),
    )
    if as_frame:
        import pandas as pd

        frame = pd.DataFrame(data, columns=feature_names)
        frame["target"] = target
        bunch.frame = frame
        bunch.data = frame[feature_names]
        bunch.target = frame["target"]
        bunch.images = bunch.data.to_numpy().reshape(-1, 28, 28)
    if return_X_y:
        return bunch.data, bunch.target
    return bunch


def verify_fashion_mnist(*, data_home=None):
    """Locate the four Fashion-MNIST files as the fetcher would, and verify each.

    Never downloads and never raises for a missing or corrupt file: each is
    reported. Every file found is decompressed and hashed again, even if it
    was verified earlier in the process.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Searched first, as in :func:`fetch_fashion_mnist`.

    Returns
    -------
    files : list of :class:`~sklearn.utils.Bunch`
        One per file, train images and labels first, with keys

        - ``file`` (str): the file name;
        - ``subset`` (str): ``"train"`` or ``"test"``;
        - ``place`` (str or None): which searched folder holds it
          (``"data_home"``, ``"SKFASHION_DATA"``, ``"Debian package"``,
          ``"Keras cache"`` or ``"skfashion cache"``);
        - ``path`` (str or None) and ``size_bytes`` (int or None): the file
          and its size on disk, None when not found;
        - ``n_samples`` (int): images or labels the file should hold;
        - ``sha256`` (str or None): SHA-256 of the decompressed payload when
          it decompressed, and ``expected_sha256`` (str);
        - ``ok`` (bool) and ``error`` (str or None): whether it passed, and why not;
        - ``class_counts`` (ndarray of shape (10,) or None): images per class,
          for a labels file that passed.

    See Also
    --------
    fetch_fashion_mnist : Load the data.

    Examples
    --------
    >>> from skfashion import verify_fashion_mnist
    >>> [(f.file, f.ok) for f in verify_fashion_mnist()][:2]
    [('train-images-idx3-ubyte.gz', True), ('train-labels-idx1-ubyte.gz', True)]
    """
    from sklearn.utils import Bunch

    _check_args("all", data_home)
    places = _search_places(data_home)
    results = []
    for part, names in _PARTS.items():
        place = _locate(part, places)
        for name in names:
            spec = _FILES[name]
            result = Bunch(
                file=name,
                subset=part,
                place=None,
                path=None,
                size_bytes=None,
                n_samples=spec.shape[0],
                sha256=None,
                expected_sha256=spec.sha256,
                ok=False,
                error=None,
                class_counts=None,
            )
            results.append(result)
            if place is None:
                searched = "; ".join(f"{p.name} {p.folder}" for p in places)
                result.error = f"not found (no folder holds both {part} files; searched {searched})"
                continue
            path = place.folder / name
            result.update(place=place.name, path=str(path), size_bytes=path.stat().st_size)
            try:
                array = _read_idx(path, name, _FIXES[place.name])
            except (DataIntegrityError, OSError) as exc:
                result.error = str(exc)
                result.sha256 = getattr(exc, "actual_sha256", None)
                continue
            result.update(sha256=spec.sha256, ok=True)
            if array.ndim == 1:
                result.class_counts = np.bincount(array, minlength=len(CLASS_NAMES))
    return results
