"""The one-command workflow: a JSON recipe → train (teacher, baseline, distilled student) →
prune → QAT → export → benchmark → report, in one run folder.

    recipe = load_recipe("models/mobilenet_v2_035_fashion/recipe.json", preset="short")
    record = run_pipeline(recipe, "runs/mobilenet_v2_035_fashion_short")
"""

from tflite_lite import _lazy

__getattr__, __dir__, __all__ = _lazy.attach(__name__, {
    "recipe": ["Recipe", "default_run_dir", "load_recipe"],
    "runner": ["describe_plan", "plan", "run_pipeline"],
})
