"""The redraw throttle every live view uses: bounded redraws, the last state always drawn."""

from __future__ import annotations

import math
import threading
import time


class Throttle:
    """Call `action` at most once per `interval` seconds, never losing the last request.

    A request schedules one call on a timer thread: at once if the last call was an interval
    ago, else at the interval's end; more requests before then join it (the action reads the
    latest state when it runs). So a fast producer costs a bounded number of actions, the
    final state is always drawn, and the producer (the training loop) never runs the action
    itself: a redraw overlaps with TensorFlow's work instead of pausing it.

    Args:
        action: a function of no arguments.
        interval: seconds between calls.
        clock: a monotonic clock (tests pass a fake one).

    Example:
    >>> drawn = []
    >>> redraw = Throttle(lambda: drawn.append(len(drawn)), interval=60.0)
    >>> for _ in range(1000):  # a training loop asking for a redraw every step
    ...     redraw()
    >>> redraw.flush()  # the run ended: draw the final state now
    >>> redraw.calls <= 2 and not redraw.pending
    True
    """

    def __init__(self, action, interval: float = 0.25, clock=time.monotonic):
        self.action, self.interval, self.clock = action, interval, clock
        self.calls = 0
        self._last = -math.inf
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._running = threading.Lock()  # held while the action runs

    def __call__(self) -> None:
        with self._lock:
            if self._timer is not None:
                return  # the trailing call already due will show this request's state
            wait = max(0.0, self._last + self.interval - self.clock())
            self._timer = threading.Timer(wait, self._trailing)
            self._timer.daemon = True
            self._timer.start()

    @property
    def pending(self) -> bool:
        return self._timer is not None

    def flush(self) -> None:
        """Run a pending call now (e.g. when the run ends); when it returns, no call is due or
        still running."""
        with self._lock:
            timer, self._timer = self._timer, None
            if timer is not None:
                timer.cancel()
                self._last = self.clock()
        if timer is not None:
            self._run()
        else:
            with self._running:  # a call already started on the timer thread finishes first
                pass

    def cancel(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _trailing(self) -> None:
        with self._lock:
            if self._timer is None:  # flushed or cancelled meanwhile
                return
            self._timer = None
            self._last = self.clock()
        self._run()

    def _run(self) -> None:
        with self._running:
            self.calls += 1
            self.action()
