"""The ``skfashion`` command: a thin argparse front end to the public Python API.

Add a command with an ``_add_<command>_parser(commands)`` function that sets
``func`` to a ``_cmd_<command>_<action>(args) -> int`` function, and call it in
:func:`_build_parser`. Library errors become one ``skfashion: error: ...``
message and exit status 1; bad command lines exit with status 2 (argparse).
"""

import argparse
import os
import sys

from skfashion import (
    CLASS_NAMES,
    DataIntegrityError,
    DataNotFoundError,
    __version__,
    fetch_fashion_mnist,
    verify_fashion_mnist,
)


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="skfashion",
        description="Fashion-MNIST with Keras MLPs as scikit-learn classifiers.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_data_parser(commands)
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


def main(argv=None):
    """Run the ``skfashion`` command line; return its exit status.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments, without the program name; by default ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success, 1 when the data is missing or corrupt. A bad command
        line raises :class:`SystemExit` with status 2, as argparse does.
    """
    args = _build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # e.g. `skfashion data verify | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (DataNotFoundError, DataIntegrityError, OSError) as exc:
        print(f"skfashion: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("skfashion: interrupted", file=sys.stderr)
        return 130
