"""Searches model family, width, input size and channel pruning for a device budget (or, with
--space, each stage's width, depth, kernel and expansion), then trains the best through the
recipe's pipeline (QAT, int8, the TensorFlow Lite Micro export).

Usage:
  python scripts/search.py --recipe models/micro_fashion/recipe.json \
      --budget arena_kb=64,flash_kb=256 [--families mobilenet_v1,squeezenet] \
      [--input_sizes 32,28] [--channel_fractions 0,0.25,0.5] [--output_dir runs/search]
  python scripts/search.py --recipe models/micro_fashion/recipe.json \
      --budget arena_kb=32,flash_kb=128 --space models/micro_fashion/search_space.json \
      [--trials 24] [--seeds 3] [--workers 2] [--address HEAD:6379]

Budget keys: arena_kb and flash_kb (the TFLM export), latency_ms (per inference on
--latency_target: micro = TFLM on this host, host = LiteRT on one thread), macs, params. Every
candidate's exact costs come first (profile, then an int8 export for TFLM); the survivors train
for --proxy_epochs on --proxy_examples images; the proxy's best (and with --full_train_top N
its next N) train as the recipe's student in RUN/full, the best of them by validation accuracy
wins and goes on through the recipe's stages in RUN/final (`scripts/pipeline.py --release`
material); the proxy's rank correlation with full training is reported. The hand-chosen
baseline (the registered model with the fewest parameters, its input size and then its width
scaled down until it fits) trains through the same recipe (--nobaseline: not).
With --space, regularized evolution proposes --trials candidates of the searchable family
(each one's exact costs first: only those that fit train as proxies), --seeds seeds train each
contender and the hand-scaled baseline (MobileNet V2's recipe in the same stages), and
--workers/--address run the trials on Ray Tune (docs/micro.md).
Writes RUN/search.json (every candidate, resumable: rerun the same command after a kill) and
RUN/search.png (accuracy against cost, budget, Pareto front), and prints the table.
"""

import sys

from absl import flags

from tflite_lite import cli
from tflite_lite.pipeline.search_config import LATENCY_TARGETS, SearchConfig

# Every flag but this one comes from SearchConfig: its name, type, default and help.
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Run folder (default runs/search_<recipe "
                                  "name>).")
_RELEASE = flags.DEFINE_string("release", None, "Zoo folder (models/NAME) to release the winner "
                                "into: its recipe.json, int8 model, contract, C source pair and "
                                "card.")
_SEARCH = cli.ConfigFlags(SearchConfig, choices={"latency_target": LATENCY_TARGETS},
                          item_types={"input_sizes": int, "channel_fractions": float})


def main(argv):
    cli.reject_extra_args(argv)
    config = SearchConfig(**_SEARCH.values())
    from tflite_lite.pipeline.search import SEARCH_COLUMNS, rows_of, run_search  # noqa: PLC0415
    from tflite_lite.report import format_table  # noqa: PLC0415

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
        baseline = record["baseline"]
        print(f"baseline: {baseline['candidate']}; int8 test accuracy "
              f"{baseline['final_int8']['tflite_accuracy']}; the winner's gain "
              f"{record['gain_over_baseline_pp']:+.2f} pp")
        seeds = record["seed_gain_over_baseline_pp"]
        chosen = record["candidates"][winner["candidate"]]
        print(f"over {seeds['seeds']} seed(s), float test accuracy: winner "
              f"{chosen['full_test_mean']:.4f} ± {chosen['full_test_std']:.4f}, baseline "
              f"{baseline['full_test_mean']:.4f} ± {baseline['full_test_std']:.4f}; gain "
              f"{seeds['gain']:+.2f} pp against the two standard deviations' sum "
              f"{seeds['std_sum']:.2f} pp")
        int8 = record["int8_gain_over_baseline_pp"]
        print(f"over {int8['seeds']} seed(s), int8 TFLM test accuracy: winner "
              f"{chosen['int8_tflm_mean']:.4f} ± {chosen['int8_tflm_std']:.4f}, baseline "
              f"{baseline['int8_tflm_mean']:.4f} ± {baseline['int8_tflm_std']:.4f}; gain "
              f"{int8['gain']:+.2f} pp against the two standard deviations' sum "
              f"{int8['std_sum']:.2f} pp")
    if _RELEASE.value:
        from tflite_lite.pipeline.search import release_search  # noqa: PLC0415
        release_search(record, _RELEASE.value,
                       " ".join(["python scripts/search.py", *_without_output_dir(sys.argv[1:])]))
        print(f"released → {_RELEASE.value}")


def _without_output_dir(args):
    """The command line for the card: where this run's folder went is not part of the model."""
    kept, skip = [], False
    for arg in args:
        if not skip and not arg.startswith("--output_dir"):
            kept.append(arg)
        skip = arg == "--output_dir"
    return kept


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
