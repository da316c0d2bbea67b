"""The one-command workflow: a JSON recipe → train (teacher, baseline, distilled student) →
prune → QAT → export → benchmark → report, in one run folder.

    recipe = load_recipe("models/mobilenet_v2_035_fashion/recipe.json", preset="short")
    record = run_pipeline(recipe, "runs/mobilenet_v2_035_fashion_short")
"""

import os

from tflite_lite.pipeline.recipe import Recipe, load_recipe
from tflite_lite.pipeline.runner import plan, run_pipeline


def default_run_dir(recipe):
    """`runs/<name>`, with `_<preset>` for a preset."""
    return os.path.join("runs", recipe.name + (f"_{recipe.preset}" if recipe.preset else ""))


__all__ = ["Recipe", "load_recipe", "plan", "run_pipeline", "default_run_dir"]
