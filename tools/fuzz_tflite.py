"""Fuzzes the `.tflite` loading path: mutated copies of a valid model, each loaded through
`describe_file` (a pure-Python parse, then LiteRT in a child process) by long-lived caller
processes that the harness watches. Target: 0 caller crashes and 0 caller hangs.

Usage:
  python -m tools.fuzz_tflite --model models/shufflenet_v2_x0_5_fashion/model_int8.tflite \
      --count 1000 --json runs/fuzz/fuzz.json

Prints the outcome counts (loaded, refused by the parser or by LiteRT, LiteRT crashes and
hangs contained in the child, caller crashes and hangs) overall and per mutation kind; writes
them as JSON, and the mutants that crashed or hung a caller into --failures_dir. Exits 1 if any
caller crashed or hung.
"""

import sys

from absl import flags

from tflite_lite import cli
from tools.fuzzing import MUTATIONS, OUTCOMES, fuzz_loading

_MODEL = flags.DEFINE_string("model", "models/shufflenet_v2_x0_5_fashion/model_int8.tflite",
                             "A valid `.tflite` to mutate.")
_COUNT = flags.DEFINE_integer("count", 1000, "Mutants to load.", lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "Mutation seed (same seed, same mutants).")
_WORKERS = flags.DEFINE_integer("workers", 2, "Caller processes in parallel.", lower_bound=1)
_CHILD_TIMEOUT = flags.DEFINE_float("child_timeout", 20.0,
                                    "Seconds LiteRT's child may take per mutant.",
                                    lower_bound=0.1)
_JSON = flags.DEFINE_string("json", "runs/fuzz/fuzz.json", "Where the report is written.")
_FAILURES_DIR = flags.DEFINE_string("failures_dir", "runs/fuzz/failures",
                                    "Where mutants that crashed or hung a caller are kept.")


def main(argv):
    cli.reject_extra_args(argv)
    report = fuzz_loading(_MODEL.value, count=_COUNT.value, seed=_SEED.value,
                          workers=_WORKERS.value, child_timeout=_CHILD_TIMEOUT.value,
                          output_json=_JSON.value, failures_dir=_FAILURES_DIR.value,
                          log=lambda line: print(line, flush=True))
    print(f"\n{report['count']} mutants of {_MODEL.value} ({report['model_bytes']:,} bytes, "
          f"{report['structure_bytes']:,} outside the weight buffers) in {report['seconds']} s")
    kinds = [kind for kind in MUTATIONS if kind in report["by_mutation"]]
    print(f"{'outcome':24s} {'total':>6s} " + " ".join(f"{kind:>13s}" for kind in kinds))
    for outcome in OUTCOMES:
        cells = " ".join(f"{report['by_mutation'][kind].get(outcome, 0):13d}" for kind in kinds)
        print(f"{outcome:24s} {report['outcomes'][outcome]:6d} {cells}")
    for failure in report["failures"]:
        print(f"FAIL {failure['outcome']} mutant {failure['index']} ({failure['kind']} at "
              f"{failure['offset']}): {failure['message']}")
    print(f"report: {_JSON.value}")
    if report["failures"]:
        sys.exit(1)


if __name__ == "__main__":
    cli.run(main)
