#!/usr/bin/env bash
# Set up skfashion on a fresh Debian/Ubuntu machine: the real Fashion-MNIST data from the
# `dataset-fashion-mnist` package (offline machines have no other source), a Japanese font for
# the `--lang ja` figures, a virtual environment in .venv and the project with its test and
# docs extras. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

need=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
fc-list :lang=ja 2>/dev/null | grep -q . || need+=(fonts-ipafont-gothic)
if [ ${#need[@]} -gt 0 ] && command -v apt-get >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq "${need[@]}"; }; then
        echo "setup.sh: could not install ${need[*]}; skfashion will try to download the data" >&2
    fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,docs,dask]"
echo "setup.sh: ready ($(.venv/bin/python -c 'import skfashion; print("skfashion", skfashion.__version__)'))"
