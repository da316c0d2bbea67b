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


def format_seconds(seconds):
    """`12 s` under two minutes, `3.4 min` above."""
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
    print(f" {format_seconds(time.perf_counter() - started)}", flush=True)


class Progress:
    """A count towards `total` with its rate and the time left.

    Args:
      label: what is being counted, e.g. "evaluating".
      total: the count at the end.
      unit: the counted thing. Defaults to "images".
      verbose: 0 prints nothing. Defaults to 1.
      every: seconds between lines when `stream` is not a terminal; None prints nothing
        there. Defaults to 15.
      stream: where to write. Defaults to None (stdout).
    """

    def __init__(self, label, total, unit="images", verbose=1, every=15.0, stream=None):
        self.label, self.total, self.unit = label, total, unit
        self.verbose, self.every = verbose, every
        self.stream = stream or sys.stdout
        self.done = 0
        self._started = self._printed = time.perf_counter()
        self._terminal = self.stream.isatty()
        self._open_line = False

    def line(self):
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        rate = self.done / elapsed
        filled = int(20 * self.done / self.total) if self.total else 20
        bar = "=" * filled + (">" if filled < 20 else "") + " " * (19 - filled)
        text = (f"{self.label} [{bar}] {self.done:,}/{self.total:,} {self.unit}, "
                f"{rate:,.0f} {self.unit}/s")
        if self.done < self.total and rate > 0:
            text += f", {format_seconds((self.total - self.done) / rate)} left"
        elif self.done >= self.total:
            text += f", {format_seconds(elapsed)}"
        return text

    def update(self, count):
        if not self.verbose:
            return
        self.done = min(self.done + count, self.total)
        now = time.perf_counter()
        finished = self.done >= self.total
        if self._terminal:
            if now - self._printed > 0.1 or finished:
                print("\r" + self.line(), end="\n" if finished else "", flush=True,
                      file=self.stream)
                self._printed, self._open_line = now, not finished
        elif self.every is not None and (now - self._printed >= self.every or finished):
            print(self.line(), flush=True, file=self.stream)
            self._printed = now

    def close(self):
        """Ends a bar left unfinished on a terminal (when the counted work failed)."""
        if self._open_line:
            print(file=self.stream, flush=True)
            self._open_line = False
