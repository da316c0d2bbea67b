#!/usr/bin/env bash
# The main job: set up, train a small MobileNet V2 on Fashion-MNIST, print its test accuracy.
# Extra arguments go to scripts/train.py, e.g.: bash scripts/run.sh --epochs 2
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/train.py --model mobilenet_v2_035 --dataset fashion_mnist \
  --input_size 32 --epochs 10 --output_dir runs/quickstart "$@"
