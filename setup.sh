#!/usr/bin/env bash
# Set up skfashion on a fresh Debian/Ubuntu machine: the real Fashion-MNIST data from the
# `dataset-fashion-mnist` package (offline machines have no other source), a Japanese font for
# the `--lang ja` figures, a virtual environment in .venv and the project with its test and
# docs extras. Safe to run again: it only installs what is missing.
#
#   bash setup.sh          what a user needs to run skfashion and its study
#   bash setup.sh --test   also headless Chromium and its driver, for the test of the HTML
#                          report in a real browser (tests/test_browser.py)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

with_browser=false
for argument in "$@"; do
    case "$argument" in
        --test) with_browser=true ;;
        *) echo "setup.sh: unknown option $argument (use --test or nothing)" >&2; exit 2 ;;
    esac
done

need=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
fc-list :lang=ja 2>/dev/null | grep -q . || need+=(fonts-ipafont-gothic)
if $with_browser; then
    command -v chromium >/dev/null || need+=(chromium)
    command -v chromedriver >/dev/null || need+=(chromium-driver)
fi
if [ ${#need[@]} -gt 0 ] && command -v apt-get >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if ! { $sudo apt-get update -qq &&
           $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; }; then
        echo "setup.sh: could not install ${need[*]}; without dataset-fashion-mnist skfashion" \
             "downloads the data, without chromium the browser test fails in CI" >&2
    fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# setuptools as pyproject.toml's build-system needs it: the test of the notebooks' install cell
# builds skfashion offline with this environment's setuptools.
.venv/bin/python -m pip install -q --upgrade pip "setuptools>=77"
.venv/bin/python -m pip install -q -e ".[test,docs,dask]"
echo "setup.sh: ready ($(.venv/bin/python -c 'import skfashion; print("skfashion", skfashion.__version__)'))"
