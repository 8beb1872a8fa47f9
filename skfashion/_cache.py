"""A cache of finished fits' results, so that long work resumes where it stopped.

Each entry holds what one fit produced (its history, scores, test-set
probabilities; for a search's fit, the whole fitted classifier, its network as
the bytes of a ``.keras`` file: numbers and arrays, never pickled code) under a key made of
everything that determines them: the estimator's parameters, the seed, a
checksum of every array the fit saw, the versions of skfashion, TensorFlow,
Keras and NumPy, and a fingerprint of skfashion's training code. A changed
program, parameter or data set therefore never gets an old result.

An entry is one file, ``<key>.skfit``: a header line, the SHA-256 of the
payload, then the payload (NumPy's ``.npz`` format, read with
``allow_pickle=False``). It is written atomically, so two runs may write the
same entry at once and readers see either nothing or a whole entry; an entry
that does not match its checksum or its key (a damaged disk, a file cut short
by a crash) is ignored with a warning, and the fit runs again.
"""

import hashlib
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np

CACHE_ENV = "SKFASHION_CACHE"
SUFFIX = ".skfit"
_MAGIC = b"skfashion-fit-cache 1\n"
_JSON_MEMBER = "__json__"
# Modules of skfashion that cannot change what a fit learns or predicts; every other
# top-level module (the estimator, the network, the training loop, any new one) is
# part of the code fingerprint.
_NOT_TRAINING = frozenset(
    {
        "__init__",
        "__main__",
        "_cache",
        "_cli",
        "_datasets",
        "_diagnostics",
        "_display",
        "_environment",
        "_files",
        "_i18n",
        "_parallel",
        "_search_cache",
        "_study_report",
    }
)
_VERSIONED = ("tensorflow", "keras", "numpy")


def default_folder():
    """The cache folder: ``$SKFASHION_CACHE``, else ``skfashion_cache`` in scikit-learn's data home.

    scikit-learn's data home is ``~/scikit_learn_data`` unless the variable
    ``SCIKIT_LEARN_DATA`` names another folder.
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    from sklearn.datasets import get_data_home

    return Path(get_data_home()) / "skfashion_cache"


def training_code_fingerprint(package=None):
    """SHA-256 of the source of skfashion's modules that take part in training.

    Every top-level module of the package folder ``package`` (by default
    skfashion's own) counts, but those that cannot change what a fit learns
    or predicts (the command line, reports, file writing, ...).
    """
    package = Path(package) if package is not None else Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.glob("*.py")):
        if path.stem not in _NOT_TRAINING:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def array_checksum(array):
    """SHA-256 of an array's dtype, shape and values."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.data if array.size else b"")
    return digest.hexdigest()


def fit_key(params, seed, *arrays, extra=None):
    """The cache key of one fit: a SHA-256 of everything that determines its results.

    Parameters
    ----------
    params : dict
        The estimator's parameters (``estimator.get_params()``), JSON-able
        values or tuples of them.
    seed : int or None
        The fit's random seed.
    *arrays : array-like
        Every array the fit or its predictions read (training, validation,
        test data), in a fixed order.
    extra : dict, default=None
        Anything else that changes the results (what is computed, say),
        JSON-able.

    Returns
    -------
    key : str
        64 hexadecimal digits.

    Examples
    --------
    >>> import numpy as np
    >>> from skfashion._cache import fit_key
    >>> X = np.zeros((4, 784), dtype=np.uint8)
    >>> fit_key({"epochs": 5}, 0, X) == fit_key({"epochs": 5}, 0, X)
    True
    >>> fit_key({"epochs": 5}, 0, X) == fit_key({"epochs": 6}, 0, X)
    False
    """
    from . import __version__
    from ._environment import package_versions

    ingredients = {
        "params": params,
        "seed": seed,
        "arrays": [array_checksum(np.asarray(a)) for a in arrays],
        "extra": extra,
        "versions": {"skfashion": __version__, **package_versions(_VERSIONED)},
        "code": training_code_fingerprint(),
    }
    text = json.dumps(ingredients, sort_keys=True, default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot put {type(value).__name__} {value!r} into a cache key")


# Parameters that change what a fit prints, or where it is kept, not what it learns.
_QUIET_PARAMS = ("verbose", "cache")
_FITTED = "fitted."


def estimator_key(estimator, *arrays, extra=None):
    """:func:`fit_key` of an unfitted estimator's parameters and seed, and ``arrays``.

    None when ``random_state`` is not an int: such a fit cannot be repeated,
    so it is never taken from a cache.
    """
    params = {k: v for k, v in estimator.get_params().items() if k not in _QUIET_PARAMS}
    seed = params.pop("random_state", None)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        return None
    return fit_key(params, int(seed), *arrays, extra=extra)


def estimator_results(estimator, **arrays):
    """What a fitted estimator learned that a cache entry can hold, and ``arrays``.

    Every public fitted attribute (``history_``, ``classes_``, ``fit_time_``,
    ...) that is a number, a string, a list, a dict or a NumPy array; not the
    Keras network (``model_``), which is code as much as numbers.
    """
    results = {}
    for name, value in vars(estimator).items():
        if name.endswith("_") and not name.startswith("_") and _storable(value):
            results[_FITTED + name] = value
    return {**results, **arrays}


def restore_estimator(estimator, results):
    """Set the fitted attributes kept by :func:`estimator_results` on ``estimator``; return it."""
    for name, value in results.items():
        if name.startswith(_FITTED):
            setattr(estimator, name[len(_FITTED) :], value)
    return estimator


# What a search's entry holds: the fitted classifier itself, network included.
_FIT_ONLY = {"computes": "fit(X, y, sample_weight): the fitted state, network included"}


def search_fit_key(estimator, X, y, sample_weight=None):
    """The cache key of ``estimator.fit(X, y, sample_weight)`` kept by :func:`fitted_state`.

    None when the fit cannot be repeated (``random_state`` not an int) or its
    data is not arrays of numbers or strings (sparse matrices, object columns).
    """
    if hasattr(X, "toarray"):
        return None
    try:
        arrays = [np.asarray(a) for a in (X, y, sample_weight) if a is not None]
    except (TypeError, ValueError):  # ragged lists, say: the fit's own checks say what is wrong
        return None
    if any(a.dtype.hasobject for a in arrays):
        return None
    columns = [str(c) for c in X.columns] if hasattr(X, "columns") else None
    extra = {**_FIT_ONLY, "sample_weight": sample_weight is not None, "columns": columns}
    return estimator_key(estimator, *arrays, extra=extra)


def fitted_state(estimator, before):
    """What a fit set on ``estimator``, network included, as cache results.

    The attributes of the estimator's pickled state (:meth:`FashionMLP.__getstate__`:
    the network as the bytes of a ``.keras`` file, the fitted attributes, the
    random streams' positions) that the fit added or replaced, each as JSON
    or a NumPy array: numbers, never pickled code. Parameters, and what others
    set and the fit left alone (scikit-learn's callback context in a search),
    are not part of it.

    Parameters
    ----------
    estimator : FashionMLP
        A fitted estimator.
    before : dict
        ``dict(vars(estimator))`` before the fit.

    Raises
    ------
    TypeError
        When the state holds something else (then the fit cannot be kept).
    """
    params = estimator.get_params(deep=False)
    state = {
        name: value
        for name, value in estimator.__getstate__().items()
        if name not in params and not (name in before and before[name] is value)
    }
    arrays = {}
    return {_STATE: _to_plain(state, arrays), **arrays}


def restore_fitted_state(estimator, results):
    """Give ``estimator`` the state of :func:`fitted_state` in place of any fit's; return it."""
    state = _from_plain(results[_STATE], results)
    params = estimator.get_params(deep=False)
    for name in [n for n in vars(estimator) if n.endswith("_") and n not in params]:
        delattr(estimator, name)  # a fitted attribute of an earlier fit the entry lacks
    estimator.__setstate__({**vars(estimator), **state})
    return estimator


_STATE = "fitted_state"
# np.random.Generator bit generators a state may name (never an arbitrary attribute).
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")


def _to_plain(value, arrays):
    """``value`` as JSON, each dict a one-key dict naming its kind; arrays go to ``arrays``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_to_plain(v, arrays) for v in value]
    if isinstance(value, tuple):
        return {"tuple": [_to_plain(v, arrays) for v in value]}
    if isinstance(value, dict):
        return {"dict": [[_to_plain(k, arrays), _to_plain(v, arrays)] for k, v in value.items()]}
    if isinstance(value, np.random.Generator):
        return {"generator": value.bit_generator.state}
    if isinstance(value, np.ndarray) and value.dtype.hasobject:
        if all(isinstance(v, str) for v in value.flat):  # feature names
            return {"strings": value.tolist()}
        raise TypeError("cannot keep an array of Python objects in a cache entry")
    for kind, types, as_array in _ARRAY_KINDS:
        if isinstance(value, types):
            name = f"{_STATE}.{len(arrays)}"
            arrays[name] = as_array(value)
            return {kind: name}
    raise TypeError(f"cannot keep {type(value).__name__} in a cache entry")


_ARRAY_KINDS = (
    ("array", np.ndarray, lambda value: value),
    ("scalar", np.generic, np.asarray),
    ("bytes", bytes, lambda value: np.frombuffer(value, dtype=np.uint8)),
)


def _from_plain(document, arrays):
    if isinstance(document, list):
        return [_from_plain(v, arrays) for v in document]
    if not isinstance(document, dict):
        return document
    ((kind, value),) = document.items()
    if kind == "tuple":
        return tuple(_from_plain(v, arrays) for v in value)
    if kind == "dict":
        return {_from_plain(k, arrays): _from_plain(v, arrays) for k, v in value}
    if kind == "generator":
        if value["bit_generator"] not in _BIT_GENERATORS:
            raise ValueError(f"unknown random generator {value['bit_generator']!r}")
        generator = np.random.Generator(getattr(np.random, value["bit_generator"])())
        generator.bit_generator.state = value
        return generator
    if kind == "strings":
        return np.array(value, dtype=object)
    array = arrays[value]
    if kind == "scalar":
        return array[()]
    return array.tobytes() if kind == "bytes" else array


# What a study entry holds besides the fit: the test set's probabilities.
_FIT_AND_PREDICT = {"computes": "fit(X, y), predict_proba(X_test)"}


def open_cache(cache):
    """The :class:`ResultCache` a ``cache`` argument asks for, or None.

    True: the default folder; a path: that folder; False or None: no cache.
    """
    if cache is None or cache is False:
        return None
    return ResultCache(None if cache is True else cache)


def cached_fit(cache, estimator, X, y, X_test):
    """Look up the fit of ``estimator`` on ``X, y`` and its probabilities on ``X_test``.

    Returns
    -------
    key : str or None
        The entry's key, for :func:`keep_fit`; None without a cache, or for
        a fit that cannot be repeated (``random_state`` not an int).
    found : tuple or None
        ``(estimator, proba)``, the estimator with its fitted attributes
        restored, when ``cache`` holds a sound entry; None otherwise.
    """
    if cache is None:
        return None, None
    key = estimator_key(estimator, X, y, X_test, extra=_FIT_AND_PREDICT)
    entry = cache.get(key) if key is not None else None
    if entry is None:
        return key, None
    return key, (restore_estimator(estimator, entry), entry.pop("proba"))


def keep_fit(cache, key, estimator, proba):
    """Store a finished fit and its test probabilities under ``key`` (nothing without a cache)."""
    if cache is not None and key is not None:
        cache.put(key, estimator_results(estimator, proba=proba))


def _storable(value):
    if isinstance(value, np.ndarray):
        return not value.dtype.hasobject
    try:
        json.dumps(value, default=_plain)
    except (TypeError, ValueError):
        return False
    return True


class ResultCache:
    """Finished fits' results on disk, keyed by :func:`fit_key`.

    Parameters
    ----------
    folder : str or os.PathLike, default=None
        Where the entries live; by default :func:`default_folder`. Created on
        the first :meth:`put`.

    Attributes
    ----------
    folder : pathlib.Path
        The cache folder.
    hits, misses : int
        Entries found, and entries missing or rejected, by :meth:`get`.
    rejected : list of pathlib.Path
        Entries that failed their check (and were not used).

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from skfashion._cache import ResultCache
    >>> cache = ResultCache(tempfile.mkdtemp())
    >>> cache.put("a" * 64, {"history": {"loss": [0.5, 0.4]}, "proba": np.eye(2)})
    >>> entry = cache.get("a" * 64)
    >>> entry["history"], entry["proba"].shape
    ({'loss': [0.5, 0.4]}, (2, 2))
    """

    def __init__(self, folder=None):
        self.folder = Path(folder).expanduser() if folder is not None else default_folder()
        self.hits, self.misses, self.rejected = 0, 0, []

    def path(self, key):
        """The file of the entry ``key``."""
        _check_key(key)
        return self.folder / f"{key}{SUFFIX}"

    def get(self, key):
        """The results stored under ``key``, or None when there are none or they fail the check.

        Returns
        -------
        results : dict or None
            JSON values as they were put, arrays as :class:`numpy.ndarray`.
        """
        path = self.path(key)
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            self.misses += 1
            return None
        try:
            results = _decode(content, key)
        except ValueError as exc:
            self.misses += 1
            self.rejected.append(path)
            warnings.warn(
                f"Ignoring the damaged cache entry {path} ({exc}); the fit runs again.",
                UserWarning,
                stacklevel=2,
            )
            return None
        self.hits += 1
        return results

    def put(self, key, results):
        """Store ``results`` under ``key``, atomically.

        Parameters
        ----------
        key : str
            From :func:`fit_key`.
        results : dict
            str keys; each value a :class:`numpy.ndarray` (numbers, not objects)
            or JSON-able.

        Raises
        ------
        OSError
            Naming the file when it cannot be written (no space left, say).
        """
        from ._files import write_bytes

        path = self.path(key)
        payload = _encode(key, results)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise type(exc)(
                exc.errno, f"Cannot create the cache folder {self.folder}: {exc.strerror or exc}."
            ) from exc
        write_bytes(path, _MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)

    def clear(self):
        """Delete every entry; return how many there were."""
        entries = list(self.folder.glob(f"*{SUFFIX}")) if self.folder.is_dir() else []
        for path in entries:
            path.unlink(missing_ok=True)
        return len(entries)

    def __len__(self):
        return len(list(self.folder.glob(f"*{SUFFIX}"))) if self.folder.is_dir() else 0

    def __repr__(self):
        return f"ResultCache({str(self.folder)!r})"


def _check_key(key):
    if not (isinstance(key, str) and len(key) == 64 and set(key) <= set("0123456789abcdef")):
        raise ValueError(f"a cache key is 64 hexadecimal digits from fit_key, got {key!r}.")


def _encode(key, results):
    arrays, plain = {}, {}
    for name, value in results.items():
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                raise TypeError(f"results[{name!r}] holds Python objects; store numbers only.")
            arrays[name] = value
        else:
            plain[name] = value
    document = json.dumps({"key": key, "results": plain}, default=_plain).encode()
    buffer = io.BytesIO()
    np.savez(buffer, **{_JSON_MEMBER: np.frombuffer(document, dtype=np.uint8)}, **arrays)
    return buffer.getvalue()


def _decode(content, key):
    if not content.startswith(_MAGIC):
        raise ValueError("not a skfashion cache entry")
    checksum, _, payload = content[len(_MAGIC) :].partition(b"\n")
    if hashlib.sha256(payload).hexdigest().encode() != checksum:
        raise ValueError("its checksum does not match: cut short or damaged")
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as members:
            arrays = {name: members[name] for name in members.files}
    except Exception as exc:
        raise ValueError(f"unreadable: {exc}") from exc
    document = json.loads(arrays.pop(_JSON_MEMBER).tobytes())
    if document["key"] != key:
        raise ValueError("it belongs to another key")
    return {**document["results"], **arrays}


__all__ = [
    "ResultCache",
    "cached_fit",
    "keep_fit",
    "open_cache",
    "default_folder",
    "estimator_key",
    "estimator_results",
    "fit_key",
    "fitted_state",
    "restore_estimator",
    "restore_fitted_state",
    "search_fit_key",
    "training_code_fingerprint",
]
