#!/usr/bin/env bash
# Sets up everything tflite_lite needs, idempotently: Debian's Fashion-MNIST package (when
# apt-get is available and we are root), then ./.venv with the package, its pinned
# dependencies, the test and docs tools, JAX (Keras 3's other backend), Ray Tune (a search's
# trials) and (on Linux x86_64) TensorFlow Lite Micro. Set PYTHON to
# choose the interpreter (3.10-3.12).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian package dataset-fashion-mnist" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
  else
    echo "setup: dataset-fashion-mnist not installed; keras.datasets will download Fashion-MNIST" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "${PYTHON:-python3}" -m venv .venv
fi
# The install is editable: only a change of the declared dependencies needs pip again.
stamp=.venv/.tflite_lite_setup
wanted=$(cat setup.cfg pyproject.toml | sha256sum | cut -d" " -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "setup: installing tflite_lite and its dependencies into .venv" \
    "(TensorFlow among them: about 1 GB, a few minutes on a first run)" >&2
  # pip's own lines (and its download bars on a terminal) show the progress.
  .venv/bin/python -m pip install --disable-pip-version-check -e ".[dev,docs,micro,jax,quantizer,ray]"
  echo "$wanted" > "$stamp"
fi
