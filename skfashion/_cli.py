"""The ``skfashion`` command: a thin argparse front end to the public Python API.

Add a command with an ``_add_<command>_parser(commands)`` function that sets
``func`` to a ``_cmd_<command>(args) -> int`` function, and call it in
:func:`_build_parser`. Exit statuses: 0 success; 1 missing or corrupt data,
unreachable cluster or another system error; 2 bad input, from the command
line or from the library's parameter checks, always as one
``skfashion: error: ...`` line; 130 interrupted with Ctrl-C.
"""

import argparse
import math
import os
import sys
import warnings
from pathlib import Path

from skfashion import (
    CLASS_NAMES,
    DataIntegrityError,
    DataNotFoundError,
    __version__,
    fetch_fashion_mnist,
    verify_fashion_mnist,
)
from skfashion._files import atomic_write
from skfashion._i18n import LANGUAGES

TABLE_SUFFIXES = (".csv", ".md", ".markdown", ".html", ".htm")


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one ``skfashion: error: ...`` line."""

    def error(self, message):
        self.exit(2, f"skfashion: error: {message} (see `{self.prog} --help`)\n")


def _build_parser():
    parser = _Parser(
        prog="skfashion",
        description="Fashion-MNIST with Keras MLPs as scikit-learn classifiers.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_data_parser(commands)
    _add_train_parser(commands)
    _add_search_parser(commands)
    _add_study_parser(commands)
    return parser


def _add_data_parser(commands):
    data = commands.add_parser(
        "data",
        help="find, verify and download the Fashion-MNIST files",
        description="Find, verify and download the four Fashion-MNIST files.",
    )
    actions = data.add_subparsers(dest="action", metavar="ACTION", required=True)
    data_home = argparse.ArgumentParser(add_help=False)
    data_home.add_argument(
        "--data-home",
        metavar="DIR",
        help="folder with the four .gz files, searched first (and downloaded to by fetch)",
    )

    info = actions.add_parser(
        "info", parents=[data_home], help="where the files are, their sizes and class counts"
    )
    info.set_defaults(func=_cmd_data_info)
    verify = actions.add_parser(
        "verify",
        parents=[data_home],
        help="check the SHA-256 of all four files (exit 1 if any fails)",
    )
    verify.set_defaults(func=_cmd_data_verify)
    fetch = actions.add_parser(
        "fetch", parents=[data_home], help="make the files available locally, downloading if needed"
    )
    fetch.add_argument(
        "--subset",
        choices=["train", "test", "all"],
        default="all",
        help="which part of the data to make available (default: all)",
    )
    fetch.set_defaults(func=_cmd_data_fetch)


def _size(n_bytes):
    if n_bytes is None:
        return "-"
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 1e6 else f"{n_bytes / 1e3:.1f} kB"


def _status(result):
    if result.ok:
        return "OK"
    return "MISSING" if result.path is None else "FAILED"


def _cmd_data_info(args):
    results = verify_fashion_mnist(data_home=args.data_home)
    print("Fashion-MNIST: 28x28 grayscale images of clothing, 10 classes (MIT licence)\n")
    print(f"{'status':<8}{'file':<28}{'found in':<17}{'size':>9}  path")
    for r in results:
        print(
            f"{_status(r):<8}{r.file:<28}{r.place or '-':<17}{_size(r.size_bytes):>9}  "
            f"{r.path or '-'}"
        )
    counts = {r.subset: r.class_counts for r in results if r.class_counts is not None}
    print(f"\n{'label':<7}{'class':<13}{'train':>7}{'test':>7}")
    for label, name in enumerate(CLASS_NAMES):
        cells = [counts[s][label] if s in counts else "-" for s in ("train", "test")]
        print(f"{label:<7}{name:<13}{cells[0]:>7}{cells[1]:>7}")
    totals = [counts[s].sum() if s in counts else "-" for s in ("train", "test")]
    print(f"{'total':<20}{totals[0]:>7}{totals[1]:>7}")
    return _report_failures(results)


def _cmd_data_verify(args):
    results = verify_fashion_mnist(data_home=args.data_home)
    for r in results:
        print(f"{_status(r):<8}{r.file:<28}{r.path or '-'}")
        print(f"        expected sha256 {r.expected_sha256}")
        if r.sha256 is not None:
            print(f"        actual   sha256 {r.sha256}")
        if r.error:
            print(f"        {r.error}")
    n_ok = sum(r.ok for r in results)
    print(f"{n_ok} of {len(results)} files OK.")
    return _report_failures(results)


def _report_failures(results):
    if all(r.ok for r in results):
        return 0
    print(
        "skfashion: error: some Fashion-MNIST files are missing or corrupt; run "
        "`skfashion data verify` for details and `skfashion data fetch` to download them.",
        file=sys.stderr,
    )
    return 1


def _cmd_data_fetch(args):
    bunch = fetch_fashion_mnist(subset=args.subset, data_home=args.data_home)
    print(f"Fashion-MNIST {args.subset}: {len(bunch.target):,} images, verified, from")
    for path in bunch.filenames.values():
        print(f"  {path}")
    return 0


# ---------------------------------------------------------------------- argument types
def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _fraction(text):
    value = _non_negative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def _units(text):
    """``"512,512"``, ``"512+512"`` or ``"128"`` -> a tuple of unit counts."""
    parts = text.replace("+", ",").split(",")
    try:
        units = tuple(int(part) for part in parts)
    except ValueError:
        units = ()
    if not units or min(units) < 1:
        raise argparse.ArgumentTypeError(
            f"expected unit counts of the hidden layers such as 128 or 512,512, got {text!r}"
        )
    return units


def _model_names(text):
    from skfashion.study import MODEL_NAMES

    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in MODEL_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown model name(s) {', '.join(unknown) or repr(text)}; choose from "
            f"{', '.join(MODEL_NAMES)}"
        )
    return names


def _table_path(text):
    if Path(text).suffix.lower() not in TABLE_SUFFIXES:
        raise argparse.ArgumentTypeError(
            f"cannot tell the table format of {text!r}; end it in {', '.join(TABLE_SUFFIXES)}"
        )
    return Path(text)


def _param(text):
    """``NAME=V1,V2,...`` (or ``NAME=V1;V2`` when values hold commas) -> (name, values)."""
    name, equals, values = text.partition("=")
    name = name.strip()
    if not equals or not name.isidentifier() or not values.strip():
        raise argparse.ArgumentTypeError(
            f"expected NAME=VALUE[,VALUE...] such as dropout=0,0.5, got {text!r}"
        )
    return name, [_param_value(value, text) for value in _split_values(values, text)]


def _split_values(values, text):
    separator = ";" if ";" in values else ","
    parts, depth, current = [], 0, ""
    for char in values:
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
        if depth < 0:
            break
        if char == separator and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    if depth != 0 or any(not part.strip() for part in parts):
        raise argparse.ArgumentTypeError(
            f"cannot read the values of {text!r}: separate them with commas, write unit "
            "lists as 16+16 or (16,16), and leave no value empty"
        )
    return [part.strip() for part in parts]


def _param_value(value, text):
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    if value[0] not in "([" and "," not in value:
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                pass
        if "+" not in value:
            return value
    try:
        return _units(value.strip("()[]"))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"cannot read the unit list {value!r} in {text!r}; write it as 16+16 or (16,16)"
        ) from None


# ---------------------------------------------------------------------- shared options
def _cluster_options(
    n_jobs_help="fits to run at once through joblib (-1: one per core, or per Dask worker)",
):
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("parallel training")
    group.add_argument("--n-jobs", type=int, metavar="N", help=n_jobs_help)
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the fits on the Dask cluster of this scheduler, e.g. tcp://10.0.0.5:8786",
    )
    group.add_argument(
        "--local-cluster",
        type=_positive_int,
        metavar="N",
        help="start a local Dask cluster of N single-threaded worker processes "
        "(--scheduler and --local-cluster set --n-jobs to -1 unless it is given)",
    )
    return options


def _compute_backend(args):
    """The Dask backend the arguments ask for, or a context that does nothing."""
    import contextlib

    if args.scheduler is None and args.local_cluster is None:
        return contextlib.nullcontext()
    if args.scheduler is not None and args.local_cluster is not None:
        raise ValueError("give either --scheduler or --local-cluster, not both")
    from skfashion import compute_backend

    if args.n_jobs is None:
        args.n_jobs = -1
    return compute_backend(scheduler=args.scheduler, n_workers=args.local_cluster)


def _add_cache_options(parser, what):
    """--cache-dir and --no-cache: where each finished ``what`` is kept for the next run."""
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help=f"keep each finished {what} here and reuse it when run again (default: "
        "$SKFASHION_CACHE, else skfashion_cache in scikit-learn's data home)",
    )
    cache.add_argument(
        "--no-cache",
        action="store_true",
        help=f"train every {what}, keep nothing for later runs",
    )


# ---------------------------------------------------------------------- train
def _add_train_parser(commands):
    train = commands.add_parser(
        "train",
        help="train one network and diagnose it",
        description="Train one FashionMLP on Fashion-MNIST, print its per-epoch table, its "
        "diagnosis (best number of epochs, validation accuracy there, overfitting) and its "
        "accuracy on the 10,000 test images.",
    )
    network = train.add_mutually_exclusive_group()
    network.add_argument(
        "--preset",
        choices=["tutorial", "smaller", "baseline", "bigger"],
        help="named network: tutorial 128, smaller 4,4, baseline 16,16, bigger 512,512 "
        "(default: tutorial)",
    )
    network.add_argument(
        "--units", type=_units, metavar="N[,N...]", help="units per hidden layer, e.g. 512,512"
    )
    train.add_argument("--dropout", type=_fraction, default=0.0, metavar="RATE")
    train.add_argument("--l2", type=_non_negative_float, default=0.0, metavar="PENALTY")
    train.add_argument("--augment", action="store_true", help="random flips, shifts, rotations")
    train.add_argument("--batch-norm", action="store_true")
    train.add_argument("--epochs", type=_positive_int, default=5, metavar="N", help="default: 5")
    train.add_argument("--batch-size", type=_positive_int, default=32, metavar="N")
    train.add_argument("--learning-rate", type=_non_negative_float, default=0.001, metavar="LR")
    train.add_argument(
        "--validation-fraction",
        type=_fraction,
        default=0.2,
        metavar="F",
        help="fraction of the images held out for validation (default: 0.2; 0: none)",
    )
    train.add_argument("--early-stopping", action="store_true")
    train.add_argument("--patience", type=_positive_int, default=5, metavar="N")
    train.add_argument(
        "--subset-size",
        type=_positive_int,
        metavar="N",
        help="train on the first N training images (default: all of them)",
    )
    train.add_argument("--random-state", type=int, default=0, metavar="SEED")
    train.add_argument("--lang", choices=LANGUAGES, default="en", help="of the diagnosis")
    train.add_argument(
        "--save", type=Path, metavar="PATH", help="write the fitted classifier with joblib.dump"
    )
    train.set_defaults(func=_cmd_train)


def _cmd_train(args):
    from skfashion import FashionMLP
    from skfashion.report import diagnose

    estimator = FashionMLP(
        hidden_layer_sizes=args.units or args.preset or "tutorial",
        dropout=args.dropout,
        l2=args.l2,
        batch_norm=args.batch_norm,
        augment=args.augment,
        learning_rate=args.learning_rate,
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation_fraction=args.validation_fraction,
        early_stopping=args.early_stopping,
        patience=args.patience,
        random_state=args.random_state,
        verbose=1,
    )
    if args.save is not None and not args.save.parent.is_dir():
        raise ValueError(f"cannot save to {str(args.save)!r}: its folder does not exist")
    X, y = _first_training_images(args.subset_size)
    X_test, y_test = fetch_fashion_mnist(subset="test", return_X_y=True)
    print(f"{estimator!r}\non {len(y):,} training images", flush=True)
    estimator.fit(X, y)  # checks every parameter before any TensorFlow work
    print(f"\n{_split_sizes(estimator)}")
    if estimator.n_validation_samples_:
        print(diagnose(estimator).summary(language=args.lang))
    accuracy = estimator.score(X_test, y_test)
    print(f"\nTest accuracy ({len(y_test):,} test images): {accuracy:.4f}")
    if args.save is not None:
        _dump(estimator, args.save)
        print(f"Saved the fitted classifier to {args.save}")
    return 0


def _first_training_images(n):
    """The first ``n`` training images and labels (all of them when ``n`` is None)."""
    X, y = fetch_fashion_mnist(subset="train", return_X_y=True)
    if n is not None and n > len(y):
        raise ValueError(f"--subset-size {n:,} is more than the {len(y):,} training images")
    return X[:n], y[:n]


def _split_sizes(estimator):
    """How the fitted estimator split its images (the estimator's own counts)."""
    sizes = f"{estimator.n_train_samples_:,} images for training"
    if estimator.n_validation_samples_:
        sizes += f", {estimator.n_validation_samples_:,} for validation"
    return sizes


def _dump(estimator, path):
    import joblib

    with atomic_write(path, "wb") as file:
        joblib.dump(estimator, file)


# ---------------------------------------------------------------------- search
def _add_search_parser(commands):
    search = commands.add_parser(
        "search",
        parents=[_cluster_options()],
        help="grid search over FashionMLP parameters",
        description="Grid search (GridSearchCV with training scores) over FashionMLP "
        "parameters on the first training images; prints the table of "
        "skfashion.report.cv_results_frame, best first, with the training-validation gap and "
        "a verdict per candidate.",
        epilog="Example: skfashion search --param hidden_layer_sizes=smaller,baseline,bigger "
        "--param dropout=0,0.5 --cv 3 --epochs 5 --subset-size 3000. Values: numbers, "
        "true/false, none, preset names, unit lists as 16+16 or (16,16); separate values with "
        "commas, or with semicolons to write unit lists as 16,16 (NAME='16,16;512,512').",
    )
    search.add_argument(
        "--param",
        type=_param,
        action="append",
        required=True,
        metavar="NAME=VALUES",
        help="a FashionMLP parameter and the values to try (repeat for more parameters)",
    )
    search.add_argument("--cv", type=_positive_int, default=3, metavar="N", help="default: 3")
    search.add_argument("--epochs", type=_positive_int, default=5, metavar="N", help="default: 5")
    search.add_argument(
        "--subset-size",
        type=_positive_int,
        default=3000,
        metavar="N",
        help="search on the first N training images (default: 3,000)",
    )
    search.add_argument("--random-state", type=int, default=0, metavar="SEED")
    search.add_argument(
        "--out", type=_table_path, metavar="PATH", help="also save the table (.csv, .md, .html)"
    )
    _add_cache_options(search, "fit (one candidate on one fold)")
    search.set_defaults(func=_cmd_search)


def _param_grid(params, estimator):
    """The grid of ``--param`` options; their values are checked by FashionMLP's own fit."""
    grid, known = {}, sorted(estimator.get_params())
    for name, values in params:
        if name not in known:
            raise ValueError(f"unknown parameter {name!r}; FashionMLP's are {', '.join(known)}")
        if name in grid:
            raise ValueError(f"--param {name} is given twice; list all its values in one --param")
        grid[name] = values
    return grid


def _cmd_search(args):
    from sklearn.model_selection import GridSearchCV

    from skfashion import FashionMLP
    from skfashion._search_cache import CachingFashionMLP
    from skfashion.report import cv_results_frame, save_table

    cache = None if args.no_cache else _cache_folder(args.cache_dir)
    estimator = CachingFashionMLP(epochs=args.epochs, random_state=args.random_state, cache=cache)
    grid = _param_grid(args.param, FashionMLP())
    X, y = _first_training_images(args.subset_size)
    backend = _compute_backend(args)  # first: on a cluster, --n-jobs defaults to -1
    search = GridSearchCV(
        estimator,
        grid,
        cv=args.cv,
        return_train_score=True,
        refit=False,
        error_score="raise",
        n_jobs=args.n_jobs,
    )
    n_candidates = math.prod(len(values) for values in grid.values())
    print(
        f"{n_candidates} candidate(s) x {args.cv} folds on {len(y):,} training images, "
        f"{args.epochs} epoch(s) per fit",
        flush=True,
    )
    with backend, _kept_fits(search, X, y):
        search.fit(X, y)
    frame = cv_results_frame(search)
    print(frame.to_string(float_format=lambda value: f"{value:.3f}"))
    if args.out is not None:
        save_table(frame, args.out)
        print(f"Saved the table to {args.out}")
    return 0


def _cache_folder(folder):
    """The cache folder of --cache-dir, as an absolute path for fits that run elsewhere."""
    from skfashion._cache import default_folder

    return str((folder if folder is not None else default_folder()).expanduser().absolute())


def _kept_fits(search, X, y):
    """Say how many fits the cache holds already; a lost cluster's error, how many it kept."""
    import contextlib

    from skfashion._cache import ResultCache
    from skfashion._search_cache import n_kept, naming_what_is_kept, search_keys

    if search.estimator.cache is None:
        return contextlib.nullcontext()
    cache = ResultCache(search.estimator.cache)
    keys = search_keys(search, X, y)
    kept = n_kept(cache, keys)
    print(
        f"{kept} of {len(keys)} fits found in the cache {cache.folder}; "
        f"{len(keys) - kept} to train",
        flush=True,
    )
    return naming_what_is_kept(cache, keys)


# ---------------------------------------------------------------------- study
def _add_study_parser(commands):
    study = commands.add_parser(
        "study",
        parents=[
            _cluster_options(
                "worker processes training the runs at once, each run on one TensorFlow thread "
                "so that the numbers are the same on any machine (default and -1: one per "
                "core; with --scheduler or --local-cluster: runs at once on the Dask workers)"
            )
        ],
        help="the course's exercise end to end, written up as a report",
        description="Train the tutorial network, compare network sizes (smaller, baseline, "
        "bigger), cure the overfitting of bigger (dropout, L2, both, data augmentation, early "
        "stopping), and write a report: report.md, a self-contained report.html, PNG figures "
        "and CSV tables.",
    )
    study.add_argument(
        "--quick",
        action="store_true",
        help="a small run for trying things out: 2,000 images and 8 epochs (under a minute)",
    )
    study.add_argument(
        "--epochs",
        type=_positive_int,
        metavar="N",
        help="epochs of the size comparison and remedies (default: 20, 8 with --quick)",
    )
    study.add_argument(
        "--models",
        type=_model_names,
        metavar="NAME[,NAME...]",
        help="train only these: tutorial, smaller, baseline, bigger, bigger+dropout, bigger+l2, "
        "bigger+dropout+l2, bigger+augment, bigger+early_stopping, strong (default: all but "
        "strong, the most accurate recipe, which takes about 3 minutes)",
    )
    study.add_argument(
        "--subset-size",
        type=_positive_int,
        metavar="N",
        help="training images of the size comparison and remedies (default: 6,000, 2,000 "
        "with --quick)",
    )
    study.add_argument(
        "--seeds",
        type=_positive_int,
        metavar="N",
        help="runs of every model, with seeds SEED, SEED+1, ...: each verdict then says in how "
        "many runs it came out (default: 3, 1 with --quick)",
    )
    study.add_argument(
        "--random-state",
        type=int,
        default=0,
        metavar="SEED",
        help="seed of every model's first run (default: 0)",
    )
    study.add_argument(
        "--out",
        type=Path,
        default=Path("skfashion-report"),
        metavar="DIR",
        help="report folder, replaced when the run is complete (default: skfashion-report)",
    )
    study.add_argument("--lang", choices=LANGUAGES, default="en", help="of the report")
    study.add_argument(
        "--verbose", action="store_true", help="print a table row per epoch of every model"
    )
    study.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        default=None,
        help="no progress bar (shown by default when standard error is a terminal)",
    )
    _add_cache_options(study, "model")
    study.set_defaults(func=_cmd_study)


def _cmd_study(args):
    from skfashion.study import run_study

    with _compute_backend(args):
        result = run_study(
            out=args.out,
            quick=args.quick,
            epochs=args.epochs,
            models=args.models,
            subset_size=args.subset_size,
            seeds=args.seeds,
            random_state=args.random_state,
            lang=args.lang,
            verbose=int(args.verbose),
            progress=args.progress,
            n_jobs=args.n_jobs,
            cache=False if args.no_cache else args.cache_dir or True,
        )
    print()
    import pandas as pd

    with pd.option_context("display.unicode.east_asian_width", args.lang == "ja"):
        print(result.summary_table(args.lang).to_string(index=False))
    print(
        f"\nReport in {result.out}{os.sep}: report.md, report.html and "
        f"{len(result.files) - 2} more files ({result.run_time:.1f} s)."
    )
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"skfashion: warning: {message}", file=sys.stderr)


def _one_line(exc):
    return " ".join(str(exc).split())


def main(argv=None):
    """Run the ``skfashion`` command line; return its exit status.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments, without the program name; by default ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success; 1 when the data is missing or corrupt, a cluster cannot
        be reached or another system error occurs; 2 for invalid parameters;
        130 after Ctrl-C. A bad command line raises :class:`SystemExit` with
        status 2. Every error is one ``skfashion: error: ...`` line on
        standard error.
    """
    args = _build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return args.func(args)
        except BrokenPipeError:  # e.g. `skfashion data verify | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        except (DataNotFoundError, DataIntegrityError, OSError, ImportError) as exc:
            print(f"skfashion: error: {_one_line(exc)}", file=sys.stderr)
            return 1
        except ValueError as exc:
            print(f"skfashion: error: {_one_line(exc)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("skfashion: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
