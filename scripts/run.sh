#!/usr/bin/env bash
# The main job: set up; train a small MobileNet V2 on Fashion-MNIST; export it to float32 and
# to int8 (measuring Keras vs TFLite accuracy on the test set); benchmark both on LiteRT; print
# accuracy, size and latency in one table. Extra arguments go to scripts/train.py, e.g.:
#   bash scripts/run.sh --epochs 2
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
RUN=runs/quickstart
PY=.venv/bin/python
$PY scripts/train.py --model mobilenet_v2_035 --dataset fashion_mnist --input_size 32 \
  --epochs 10 --output_dir "$RUN" "$@"
$PY scripts/export.py --model "$RUN/model.keras" --mode float32 --output "$RUN/model_float32.tflite" --evaluate
$PY scripts/export.py --model "$RUN/model.keras" --mode int8 --output "$RUN/model_int8.tflite" --evaluate
$PY scripts/benchmark.py --models "$RUN/model_float32.tflite,$RUN/model_int8.tflite" \
  --threads 1 --num_runs 300 --json "$RUN/benchmark.json" --csv "$RUN/benchmark.csv"
echo
$PY scripts/summarize_run.py --run_dir "$RUN"
