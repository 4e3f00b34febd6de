"""Progress of a long stage: a tqdm bar on a terminal, plain lines in a log.

    progress = Progress("extract@1", total=bz2_bytes)
    progress.update_to(done_bytes, postfix="12,345 articles")
    progress.close()

When stdout and stderr are both terminals, a tqdm bar on stderr (MB done of total, MB/s, ETA). Otherwise
(CI, `dvc repro > log`) a plain line on stdout every LINE_SECONDS, or each LINE_STEP of the total,
whichever comes first, never more than one a second and none in the first second, so a stage that ends at
once prints only its closing line:
    extract@1: 101.2 of 282.4 MB (35.8%), 24.1 MB/s, ETA 7.5 s, 48,210 articles
Reporting only: nothing here changes what a stage writes.
"""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

LINE_SECONDS = 10.0
LINE_STEP = 0.05
MIN_GAP_SECONDS = 1.0


def on_terminal() -> bool:
    return sys.stdout.isatty() and sys.stderr.isatty()


def duration(seconds: float) -> str:
    """12.3 -> "12.3 s", 754 -> "12 min 34 s", 7384 -> "2 h 03 min"."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Bytes done out of `total` (None: unknown), shown as MB."""

    def __init__(self, desc: str, total: int | None, terminal: bool | None = None):
        self.desc, self.total, self.done = desc, total, 0
        self.started = self.last_time = time.monotonic()
        self.last_done = 0
        terminal = on_terminal() if terminal is None else terminal
        tqdm.monitor_interval = 0  # no monitor thread: extract forks its workers while a bar is shown
        self.bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1000,
                        mininterval=0.5, file=sys.stderr, dynamic_ncols=True) if terminal else None

    def update_to(self, done: int, postfix: str = "") -> None:
        """Set the bytes done so far (never less than before)."""
        done = max(done, self.done)
        if self.bar is not None:
            self.bar.update(done - self.done)
            if postfix:
                self.bar.set_postfix_str(postfix, refresh=False)
        self.done = done
        if self.bar is None:
            self._maybe_print(postfix)

    def update(self, amount: int, postfix: str = "") -> None:
        self.update_to(self.done + amount, postfix)

    def _maybe_print(self, postfix: str) -> None:
        now = time.monotonic()
        if now - self.last_time < MIN_GAP_SECONDS or now - self.started < MIN_GAP_SECONDS:
            return
        stepped = bool(self.total) and (self.done - self.last_done) >= LINE_STEP * self.total
        if not stepped and now - self.last_time < LINE_SECONDS:
            return
        self.last_time, self.last_done = now, self.done
        print(self.line(now - self.started, postfix), flush=True)

    def line(self, seconds: float, postfix: str = "") -> str:
        rate = self.done / max(seconds, 1e-9)
        text = f"{self.desc}: {self.done / 1e6:,.1f}"
        if self.total:
            eta = (self.total - self.done) / rate if rate else float("inf")
            text += (f" of {self.total / 1e6:,.1f} MB ({self.done / self.total:.1%}), {rate / 1e6:,.1f} MB/s, "
                     f"ETA {duration(eta) if eta != float('inf') else '?'}")
        else:
            text += f" MB, {rate / 1e6:,.1f} MB/s"
        return text + (f", {postfix}" if postfix else "")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
