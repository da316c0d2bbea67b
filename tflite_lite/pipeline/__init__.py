"""The one-command workflow: a JSON recipe → train (teacher, baseline, distilled student) →
prune → QAT → export → benchmark → report, in one run folder.

    recipe = load_recipe("models/mobilenet_v2_035_fashion/recipe.json", preset="short")
    record = run_pipeline(recipe, "runs/mobilenet_v2_035_fashion_short")
"""

from tflite_lite.pipeline.recipe import Recipe, default_run_dir, load_recipe
from tflite_lite.pipeline.runner import describe_plan, plan, run_pipeline


__all__ = ["Recipe", "load_recipe", "plan", "describe_plan", "run_pipeline", "default_run_dir"]
