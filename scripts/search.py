"""Searches model family, width, input size and channel pruning for a device budget, then trains
the best through the recipe's pipeline (QAT, int8, the TensorFlow Lite Micro export).

Usage:
  python scripts/search.py --recipe models/micro_fashion/recipe.json \
      --budget arena_kb=64,flash_kb=256 [--families mobilenet_v1,squeezenet] \
      [--input_sizes 32,28] [--channel_fractions 0,0.25,0.5] [--output_dir runs/search]

Budget keys: arena_kb and flash_kb (the TFLM export), latency_ms (per inference on
--latency_target: micro = TFLM on this host, host = LiteRT on one thread), macs, params. Every
candidate's exact costs come first (profile, then an int8 export for TFLM); the survivors train
for --proxy_epochs on --proxy_examples images; the proxy's best (and with --full_train_top N
its next N) train as the recipe's student in RUN/full, the best of them by validation accuracy
wins and goes on through the recipe's stages in RUN/final (`scripts/pipeline.py --release`
material); the proxy's rank correlation with full training is reported. The hand-chosen
baseline (the registered model with the fewest parameters, its input size and then its width
scaled down until it fits) trains through the same recipe (--nobaseline: not).
Writes RUN/search.json (every candidate, resumable: rerun the same command after a kill) and
RUN/search.png (accuracy against cost, budget, Pareto front), and prints the table.
"""

from absl import flags

from tflite_lite import cli
from tflite_lite.errors import UserError
from tflite_lite.pipeline.search import SEARCH_COLUMNS, SearchConfig, rows_of, run_search
from tflite_lite.report import format_table

_D = SearchConfig
_RECIPE = flags.DEFINE_string("recipe", None, "Recipe JSON the winner trains with.",
                              required=True)
_BUDGET = flags.DEFINE_string("budget", None, "key=value,...: arena_kb, flash_kb, latency_ms, "
                              "macs, params.", required=True)
_PRESET = flags.DEFINE_string("preset", None, "The recipe's preset.")
_FAMILIES = flags.DEFINE_list("families", [], "Families to search (default: all).")
_SIZES = flags.DEFINE_list("input_sizes", [str(s) for s in _D.input_sizes], "Input sides.")
_FRACTIONS = flags.DEFINE_list("channel_fractions", [str(f) for f in _D.channel_fractions],
                               "Channel-pruning fractions.")
_LATENCY_TARGET = flags.DEFINE_enum("latency_target", _D.latency_target, ["micro", "host"],
                                    "Where latency_ms is measured.")
_PROXY_EPOCHS = flags.DEFINE_integer("proxy_epochs", _D.proxy_epochs, "Proxy epochs.",
                                     lower_bound=1)
_PROXY_EXAMPLES = flags.DEFINE_integer("proxy_examples", _D.proxy_examples,
                                       "Proxy training images.", lower_bound=1)
_FULL_TOP = flags.DEFINE_integer("full_train_top", 0, "Also fully train the proxy's next N "
                                 "survivors; the best by full training wins.",
                                 lower_bound=0)
_BASELINE = flags.DEFINE_bool("baseline", True, "Also train the hand-chosen baseline (the "
                              "smallest registered model scaled down until it fits).")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Run folder (default runs/search_<recipe "
                                  "name>).")


def _numbers(flag, kind):
    try:
        return tuple(kind(value) for value in flag.value)
    except ValueError:
        raise UserError(f"--{flag.name} must be {kind.__name__}s, got "
                        f"{','.join(flag.value)}") from None


def main(argv):
    cli.reject_extra_args(argv)
    config = SearchConfig(recipe=_RECIPE.value, budget=_BUDGET.value, preset=_PRESET.value,
                          families=tuple(_FAMILIES.value), input_sizes=_numbers(_SIZES, int),
                          channel_fractions=_numbers(_FRACTIONS, float),
                          latency_target=_LATENCY_TARGET.value, proxy_epochs=_PROXY_EPOCHS.value,
                          proxy_examples=_PROXY_EXAMPLES.value, full_train_top=_FULL_TOP.value,
                          baseline=_BASELINE.value)
    record = run_search(config, _OUTPUT_DIR.value)
    print(format_table(rows_of(record), SEARCH_COLUMNS))
    winner = record["winner"]
    final = winner["final_int8"]
    print(f"winner: {winner['candidate']}; int8 {final['file']} {final['size_bytes']:,} bytes, "
          f"arena {final.get('arena_bytes', 0):,} bytes, "
          f"{'within budget' if not final['over'] else 'over ' + ','.join(final['over'])}, "
          f"test accuracy {final['tflite_accuracy']}; proxy rank correlation "
          f"{record['proxy_rank_correlation']}; plot {record['plot']}; run {record['run_dir']}")
    if "baseline" in record:
        base = record["baseline"]["final_int8"]
        print(f"baseline: {record['baseline']['candidate']}; int8 test accuracy "
              f"{base['tflite_accuracy']}; the winner's gain "
              f"{record['gain_over_baseline_pp']:+.2f} pp")


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
