"""Progress on stdout for steps Keras does not report: conversion, calibration, evaluation.

    with step("converting to int8"):
        ...                                   # converting to int8 ... 12 s
    bar = Progress("evaluating", total=10000)
    bar.update(128)                           # evaluating [====>     ] 4,096/10,000 images ...

On a terminal the bar redraws in place; in a log it prints a line every `every` seconds and
at the end, so a long step is never silent.
"""

import contextlib
import sys
import time


def _seconds(seconds):
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


@contextlib.contextmanager
def step(label, verbose=1):
    """Prints `label ...` and, when the block ends, how long it took."""
    if not verbose:
        yield
        return
    print(f"{label} ...", end="", flush=True)
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        print(" failed", flush=True)
        raise
    print(f" {_seconds(time.perf_counter() - started)}", flush=True)


class Progress:
    """A count towards `total` with its rate and the time left.

    Args:
      label: what is being counted, e.g. "evaluating".
      total: the count at the end.
      unit: the counted thing. Defaults to "images".
      verbose: 0 prints nothing. Defaults to 1.
      every: seconds between lines when stdout is not a terminal. Defaults to 15.
    """

    def __init__(self, label, total, unit="images", verbose=1, every=15.0):
        self.label, self.total, self.unit = label, total, unit
        self.verbose, self.every = verbose, every
        self.done = 0
        self._started = self._printed = time.perf_counter()
        self._terminal = sys.stdout.isatty()

    def line(self):
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        rate = self.done / elapsed
        filled = int(20 * self.done / self.total) if self.total else 20
        bar = "=" * filled + (">" if filled < 20 else "") + " " * (19 - filled)
        text = (f"{self.label} [{bar}] {self.done:,}/{self.total:,} {self.unit}, "
                f"{rate:,.0f} {self.unit}/s")
        if self.done < self.total and rate > 0:
            text += f", {_seconds((self.total - self.done) / rate)} left"
        elif self.done >= self.total:
            text += f", {_seconds(elapsed)}"
        return text

    def update(self, count):
        if not self.verbose:
            return
        self.done = min(self.done + count, self.total)
        now = time.perf_counter()
        if self._terminal:
            if now - self._printed > 0.1 or self.done >= self.total:
                print("\r" + self.line(), end="\n" if self.done >= self.total else "",
                      flush=True)
                self._printed = now
        elif now - self._printed >= self.every or self.done >= self.total:
            print(self.line(), flush=True)
            self._printed = now
