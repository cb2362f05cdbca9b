"""A part that does one small piece of work every interval on its own thread, until the stack stops."""

from __future__ import annotations

import threading

from local import logs
from local.functions import format_exception
from local.stack import Stack


class Poller:
    """Subclasses set `name` and `interval` and implement `setup` and `tick`."""

    name = "poller"
    interval = 0.25

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.log = logs.get(self.name)
        self._last_error: str | None = None

    def setup(self, stack: Stack) -> None:
        """Prepare on the main thread (clients, names); raise to keep the part from starting."""

    def tick(self) -> None:
        raise NotImplementedError

    def start(self, stack: Stack) -> None:
        self.setup(stack)
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def signal_stop(self) -> None:
        """Ask the loop to end after its current step, without waiting for it."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        logs.set_part(self.name)
        while not self._stop.is_set():
            try:
                self.tick()
                self._last_error = None
            except Exception as exc:
                text = format_exception(exc)
                # The same failure every 250 ms is one line, not four a second.
                if text != self._last_error:
                    self.log.error("poll failed:\n%s", text)
                    self._last_error = text
            self._stop.wait(self.interval)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()
