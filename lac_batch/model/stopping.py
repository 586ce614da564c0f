"""Stopping a job from outside: a :class:`StopHandle`, and Ctrl-C/SIGTERM wired to it.

The library never installs signal handlers: a job takes a :class:`StopHandle`, which anything may
set from any thread (:meth:`StopHandle.stop`: finish what is in flight; :meth:`StopHandle.abandon`:
abandon that too). The command line points Ctrl-C and SIGTERM (Ctrl-Break on Windows) at one
handle for the whole of a command with :func:`stop_signals`: the first signal stops, the second
abandons.

Python runs a signal handler in the main thread between bytecodes, so a handler that only sets a
flag goes unseen by a stage that never looks at it: reading, validating and planning a big file
are long loops and C calls. So a handle wired to signals works two ways:

- while a stage with no side effects runs in the main thread (inside :meth:`StopHandle.promptly`:
  hashing, reading, validating, planning), the first signal raises
  :class:`~lac_batch.model.errors.Interrupted` at once, as soon as the current C call returns;
  the stage is abandoned and nothing was changed;
- a single C call that runs for seconds without the interpreter (a workbook library parsing a
  sheet) is run through :func:`abandonable`, so the main thread is free to react;
- everywhere else it only sets the flag and tells the listeners (the sending loop stops starting
  requests); the code checks :meth:`StopHandle.check` between stages.

A stop asked for from another thread, or during a stage run in a worker thread, is seen when the
stage ends (the handle cannot raise into another thread).

There is one set of handlers per process (signals are process-wide), so :func:`stop_signals` is
re-entrant: an inbox pass and the submit inside it share the same flag.
"""

from __future__ import annotations

import contextvars
import functools
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, ParamSpec, TypeVar

from lac_batch.model.errors import Interrupted

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

P = ParamSpec("P")
R = TypeVar("R")

# SIGBREAK is Windows' Ctrl-Break; SIGTERM exists there too (only raised by the process itself).
_STOP_SIGNALS = tuple(
    number
    for number in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGBREAK", None))
    if number is not None
)


class StopHandle:
    """Whether a stop was asked for, and who wants to know at once. Safe to set from any thread."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.received = 0
        """How far the stop goes: 0 none, 1 stop (finish what is in flight), 2 or more abandon
        (a second Ctrl-C: abandon the requests in flight too)."""
        self._listeners: list[Callable[[int], object]] = []
        self._prompt_depth = 0
        self._raised = False

    def stop(self) -> None:
        """Start no new request; those in flight finish; rows not sent end ``not_sent``."""
        self._ask(max(self.received, 1))

    def abandon(self) -> None:
        """Stop, and abandon the requests in flight too: their rows end ``unknown``."""
        self._ask(max(self.received, 2))

    @property
    def abandoned(self) -> bool:
        return self.received >= 2

    def _ask(self, level: int) -> None:
        if level == self.received and self._event.is_set():
            return
        self.received = level
        self._event.set()
        for listener in list(self._listeners):
            listener(level)

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True as soon as a stop is asked for."""
        return self._event.wait(seconds)

    def check(self) -> None:
        """Raise :class:`Interrupted` if a stop was asked for: call it between stages."""
        if self._event.is_set():
            raise Interrupted()

    @contextmanager
    def promptly(self) -> Iterator[None]:
        """Run a stage that changes nothing: a stop asked for during it abandons it (at once, by
        a signal, when the stage runs in the main thread; else when it ends)."""
        self.check()
        # A signal handler runs in the main thread: raising there while the stage runs in a
        # worker thread would unwind whatever the main thread does (an event loop).
        here = 1 if threading.current_thread() is threading.main_thread() else 0
        self._prompt_depth += here
        try:
            yield
        finally:
            self._prompt_depth -= here
        self.check()

    @contextmanager
    def listening(self, listener: Callable[[int], object]) -> Iterator[None]:
        """Call ``listener(signals received so far)`` on each stop signal while inside."""
        self._listeners.append(listener)
        try:
            yield
        finally:
            self._listeners.remove(listener)

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        self._ask(self.received + 1)
        # Raised once only: a handler may run at any bytecode, even in promptly()'s own exit,
        # and a later signal must never unwind code that has side effects. check() still sees
        # the flag at the next stage boundary.
        if self._prompt_depth > 0 and not self._raised:
            self._raised = True
            raise Interrupted()


_installed: StopHandle | None = None


@contextmanager
def stop_signals() -> Iterator[StopHandle]:
    """Point the stop signals at a :class:`StopHandle` while inside (the one already installed,
    if any). Outside the main thread, where Python cannot install handlers, it is a handle that
    no signal sets. Only the command line calls this: the library installs no handlers."""
    global _installed
    if _installed is not None:
        yield _installed
        return
    stop = StopHandle()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous: dict[int, Any] = {}
    for number in _STOP_SIGNALS:
        previous[number] = signal.signal(number, stop._on_signal)
    _installed = stop
    try:
        yield stop
    finally:
        _installed = None
        for number, handler in previous.items():
            signal.signal(number, handler)


def stoppable(command: Callable[P, R]) -> Callable[P, R]:
    """Run a command with the stop signals installed from its first line to its last."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with stop_signals():
            return command(*args, **kwargs)

    return run


# How often the main thread looks up from waiting on an abandonable call (Windows does not
# interrupt a wait for a signal, so it must wake by itself).
_WAIT_SLICE_S = 0.1


def abandonable(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``function(*args, **kwargs)``, abandoned at once by a stop inside a prompt stage.

    For a long call without side effects that leaves the interpreter for seconds (calamine
    parsing a sheet of a million rows takes 6 s with the GIL released): it runs in a worker
    thread, everything it opened closed by itself, while the main thread waits in short slices
    and so runs the signal handler at once. An abandoned call finishes in the background (a
    daemon thread, so it never holds up the exit) and its result is dropped. Outside a prompt
    stage with the stop signals installed it is a plain call.
    """
    stop = _installed
    if (
        stop is None
        or stop._prompt_depth == 0
        or threading.current_thread() is not threading.main_thread()
    ):
        return function(*args, **kwargs)
    outcome: list[R] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            outcome.append(function(*args, **kwargs))
        except BaseException as error:  # handed to the caller, whatever it is
            failure.append(error)

    # In the caller's context, so that its messages name options as the caller does.
    context = contextvars.copy_context()
    worker = threading.Thread(
        target=context.run, args=(work,), name="lac-batch-abandonable", daemon=True
    )
    worker.start()
    while worker.is_alive():
        worker.join(_WAIT_SLICE_S)
    if failure:
        raise failure[0]
    return outcome[0]
