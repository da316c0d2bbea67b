#!/usr/bin/env bash
# The main job: set up, then run the default recipe's short preset: train a MobileNet V1 0.5
# teacher, a ShuffleNet V2 0.5x from scratch and the same student distilled from the teacher,
# fine-tune it with QAT, export float32 and int8 (evaluated on Fashion-MNIST test images),
# benchmark every file on LiteRT and write runs/shufflenet_v2_x0_5_fashion_short/report.md.
# Extra arguments go to scripts/pipeline.py, e.g. the full preset (about 1 h 15 min):
#   bash scripts/run.sh --preset full
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/pipeline.py \
  --recipe models/shufflenet_v2_x0_5_fashion/recipe.json --preset short "$@"
