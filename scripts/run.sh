#!/usr/bin/env bash
# The main job: set up, then run the Android demo's recipe, short preset: train a MobileNet V1
# 0.5 on camera-like Fashion-MNIST frames with a "nothing" class, fine-tune it with QAT, export
# float32 and int8 (evaluated on Fashion-MNIST test images), benchmark both on LiteRT, write
# runs/mobilenet_v1_050_fashion_camera_short/report.md and the app-ready bundle
# runs/mobilenet_v1_050_fashion_camera_short/android/mobilenet_v1_050_fashion_camera_short/, and
# print the command that copies it into the app. Extra arguments go to scripts/pipeline.py,
# e.g. the full preset (56 min on 2026-12-01):
#   bash scripts/run.sh --preset full
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/pipeline.py \
  --recipe models/mobilenet_v1_050_fashion_camera/recipe.json --preset short "$@"
