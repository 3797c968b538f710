"""A small progress bar for the epoch loop: redrawn in place on a terminal, silent otherwise.

Redraws at most every 0.1 s, so calling ``update`` once per mini-batch costs a clock
read and nothing more.
"""

from __future__ import annotations

import sys
import time


class ProgressBar:
    def __init__(self, total: int, desc: str = "", stream=None, enabled: bool | None = None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total, self.desc, self.done = max(int(total), 1), desc, 0
        self.start = self.last = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self.last >= 0.1 or self.done >= self.total:
            self.last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        frac = min(self.done / self.total, 1.0)
        width = 30
        filled = int(frac * width)
        elapsed = now - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        bar = "█" * filled + "·" * (width - filled)
        self.stream.write(
            f"\r{self.desc} {bar} {frac:4.0%} {self.done}/{self.total} "
            f"[{elapsed:5.1f}s<{eta:5.1f}s, {rate:,.0f} batch/s]"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
