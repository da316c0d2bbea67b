"""Runs a recipe: train (teacher, baseline, distilled student), prune, QAT, export, benchmark,
report, all in one run folder; stages that already finished are skipped on a rerun.

Usage:
  python scripts/pipeline.py --recipe models/mobilenet_v2_035_fashion/recipe.json --preset short

Writes RUN/<stage>/ (training runs, exports, benchmark.json), RUN/pipeline.json (the recipe and every
measured figure), RUN/report.md and its plots. RUN defaults to runs/<recipe name>_<preset>
(without `--preset`, the recipe's empty preset names it, e.g. `full`). `--check` validates the
recipe and lists the stages (which have finished, which will run) without running anything;
`--release models/NAME` then copies the final int8 model, contract and labels into the zoo
folder and writes its model card. The final int8 model is also written as an app-ready bundle,
RUN/android/<run folder name>/, and the command that copies it into the Android demo is
printed.
"""

import os
import shlex

from absl import flags

from tflite_lite import cli

_RECIPE = flags.DEFINE_string("recipe", None, "Recipe JSON file.", required=True)
_PRESET = flags.DEFINE_string("preset", None, "A preset of the recipe (e.g. short, full).")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None,
                                  "Run folder (default runs/<recipe name>[_<preset>]).")
_CHECK = flags.DEFINE_bool("check", False, "Validate the recipe and list the stages only.")
_RELEASE = flags.DEFINE_string("release", None,
                               "Then copy the final int8 model, contract and labels into this "
                               "zoo folder and write its model card (README.md).")


def main(argv):
    cli.reject_extra_args(argv)
    # TensorFlow loads here, after the flags were parsed.
    from tflite_lite.pipeline import (
        default_run_dir,
        describe_plan,
        load_recipe,
        run_pipeline,
    )
    from tflite_lite.pipeline.release import release_run

    recipe = load_recipe(_RECIPE.value, _PRESET.value)
    run_dir = _OUTPUT_DIR.value or default_run_dir(recipe)
    if _CHECK.value:
        print(describe_plan(recipe, run_dir))
        return
    record = run_pipeline(recipe, run_dir)
    with open(os.path.join(run_dir, "report.md")) as f:
        print(f.read())
    best = record["summary"].get("best_int8")
    if best:
        print(f"best int8: {best['file']} test accuracy {best['tflite_accuracy']:.4f} → "
              f"{run_dir}/report.md")
    bundle = record.get("android_bundle")
    if bundle:
        assets = os.path.join("android_demo", "app", "src", "main", "assets", "models")
        print(f"app bundle: {os.path.relpath(bundle)}; to run it in the Android demo:\n"
              f"  cp -r {shlex.quote(os.path.relpath(bundle))} {assets}/")
    if _RELEASE.value:
        command = " ".join(["python scripts/pipeline.py", f"--recipe {_RECIPE.value}"]
                           + [f"--preset {_PRESET.value}"] * bool(_PRESET.value)
                           + [f"--release {_RELEASE.value}"])
        release_run(run_dir, _RELEASE.value, command)
        print(f"released → {_RELEASE.value}")


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
