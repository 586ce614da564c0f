"""Writing the ledger while sending, without making requests wait for the disk.

A request's record must be committed as ``sending`` before the request leaves, with
``synchronous=FULL`` (about 2.5 ms per commit here). Waiting for a commit before every request
cost 30-45 % of the unthrottled rate: every worker waited, then all of them fired at once. So
records are marked ahead, in file order: when a worker reaches a job whose mark is not yet
committed, or comes within ``lookahead / 2`` jobs of the marked frontier, the next ``lookahead``
jobs are marked in one commit. Workers reaching jobs that are already marked do not wait at all.
The lookahead follows the concurrency in use (:meth:`LedgerRecorder.follow`: twice the requests
in flight, as ``auto`` concurrency grows and shrinks); whatever it is, no request leaves before
its own mark is committed, since :meth:`LedgerRecorder.before_send` waits for exactly that.

The price is bounded and on the safe side: after a crash, up to ``lookahead`` requests that had
not left yet are also found ``sending`` and reported ``unknown``, never resent silently. After a
clean end (including Ctrl-C or a refused key), marks of requests that never left are undone.

Outcomes ride along in the commits of marks. A commit of outcomes alone would make the next
marks wait behind it, so one is made only when no marks come to take them: after
``OUTCOME_DELAY_S``, or once ``lookahead`` of them are waiting, and when the run ends. After a
crash, an outcome not yet written leaves its record ``sending``, so it is reported ``unknown``
(never resent silently), as the unsent marks are. SQLite work runs on one worker thread so the
event loop keeps handling answers meanwhile.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from lac_batch.ledger.store import AttemptRow, Ledger, RequestRecord, SendingMark, attempt_rows
from lac_batch.model.status import RowResult
from lac_batch.sending.engine import Job

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

DEFAULT_LOOKAHEAD = 16
OUTCOME_DELAY_S = 0.25
"""The longest a known outcome waits for marks to ride along with before it is written alone."""


class LedgerRecorder:
    """A send gate and observer of :class:`~lac_batch.sending.engine.Submitter` that keeps the
    ledger.

    ``marks`` are the requests of the run in the order the submitter takes them; ``previous``
    holds each one's record before this run (None if it had none), to undo unused marks.
    """

    def __init__(
        self,
        ledger: Ledger,
        marks: Sequence[SendingMark],
        previous: dict[str, RequestRecord | None],
        lookahead: int = DEFAULT_LOOKAHEAD,
        outcome_delay: float = OUTCOME_DELAY_S,
    ) -> None:
        self._ledger = ledger
        self._marks = list(marks)
        # Every mark is of the same run: its progress counter rides along with the outcomes.
        self._run_id = self._marks[0].run_id if self._marks else None
        self._position = {mark.fingerprint: index for index, mark in enumerate(self._marks)}
        self._previous = previous
        self._lookahead_of: Callable[[], int] = lambda: lookahead
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lac-ledger")
        self._committed = 0
        """Marks [0, _committed) are on disk."""
        self._wanted = 0
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []
        self._outcomes: list[tuple[str, RowResult]] = []
        self._attempts: list[AttemptRow] = []
        self._numbered: dict[str, int] = {}
        """Attempts kept so far per request in this run (a record settled twice numbers on)."""
        self._outcome_delay = outcome_delay
        self._outcomes_due = False
        """Write the outcomes even if no marks are wanted (their delay ran out, or the end)."""
        self._outcome_timer: asyncio.TimerHandle | None = None
        self._attempted: set[str] = set()
        self._lost: set[str] = set()
        """Claimed by another run first: not sent by this one."""
        self._flushing: asyncio.Task[None] | None = None
        self._error: Exception | None = None

    @property
    def _lookahead(self) -> int:
        return max(1, self._lookahead_of())

    def follow(self, lookahead: Callable[[], int]) -> None:
        """Take the lookahead from ``lookahead`` from now on (the concurrency in use grows)."""
        self._lookahead_of = lookahead

    async def before_send(self, job: Job, attempt_number: int) -> RowResult | None:
        """Return once this request is claimed as ``sending`` (None), or the row's result when
        another run claimed it first (it is not sent); raise if the ledger cannot be written."""
        if self._error is not None:
            raise self._error
        index = self._position[job.idempotency_key]
        if index + self._lookahead // 2 >= self._wanted:
            self._wanted = min(len(self._marks), max(self._wanted, index + 1) + self._lookahead)
            self._schedule()
        if index >= self._committed:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting.append((index, done))
            await done
        if job.idempotency_key in self._lost:
            return RowResult.unsent(
                job.row_number,
                error=(
                    "not sent: another run claimed this request in the shared ledger first and "
                    "sends it; its outcome is in that run's results"
                ),
            )
        self._attempted.add(job.idempotency_key)
        return None

    def attempt_starting(self, job: Job, attempt_number: int) -> None:
        """Nothing to write: the record stays ``sending`` through retries."""

    def row_finished(self, job: Job, result: RowResult) -> None:
        # A job that never reached before_send never left: its mark (if any) is undone at close.
        if job.idempotency_key not in self._attempted:
            return
        key = job.idempotency_key
        self._outcomes.append((key, result))
        first = self._numbered.get(key, 0) + 1
        self._numbered[key] = first - 1 + len(result.tried)
        run_id = self._marks[self._position[key]].run_id
        self._attempts += attempt_rows(run_id, key, result.tried, first)
        if len(self._outcomes) >= self._lookahead:
            self._write_outcomes()
        elif self._outcome_timer is None:
            self._outcome_timer = asyncio.get_running_loop().call_later(
                self._outcome_delay, self._write_outcomes
            )

    def _write_outcomes(self) -> None:
        self._outcomes_due = True
        self._schedule()

    def _schedule(self) -> None:
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    def _settle_waiters(self) -> None:
        still: list[tuple[int, asyncio.Future[None]]] = []
        for index, done in self._waiting:
            if done.done():
                continue
            if self._error is not None:
                done.set_exception(self._error)
            elif index < self._committed:
                done.set_result(None)
            else:
                still.append((index, done))
        self._waiting = still

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._error is None and (
            self._wanted > self._committed or (self._outcomes and self._outcomes_due)
        ):
            wanted = self._wanted
            marks = self._marks[self._committed : wanted]
            outcomes, self._outcomes = self._outcomes, []
            attempts, self._attempts = self._attempts, []
            self._outcomes_due = False
            if self._outcome_timer is not None:
                self._outcome_timer.cancel()
                self._outcome_timer = None
            try:
                # In this context, so that the ledger's messages name options as the caller does.
                lost = await loop.run_in_executor(
                    self._executor,
                    contextvars.copy_context().run,
                    self._ledger.write_batch,
                    marks,
                    outcomes,
                    self._run_id,
                    attempts,
                )
            except Exception as error:
                # Kept for aclose(); every request still waiting learns of it and is not sent.
                self._error = error
            else:
                self._lost |= lost
                self._committed = max(self._committed, wanted)
            self._settle_waiters()

    async def aclose(self) -> None:
        """Write pending outcomes, undo marks of requests that never left, stop the thread."""
        try:
            if self._flushing is not None:
                await self._flushing
            self._write_outcomes()
            if self._flushing is not None:
                await self._flushing
            if self._error is None:
                unused = [
                    (mark.fingerprint, self._previous.get(mark.fingerprint))
                    for mark in self._marks[: self._committed]
                    if mark.fingerprint not in self._attempted
                    and mark.fingerprint not in self._lost
                ]
                if unused:
                    run_id = self._marks[0].run_id
                    await asyncio.get_running_loop().run_in_executor(
                        self._executor,
                        contextvars.copy_context().run,
                        self._ledger.unmark,
                        run_id,
                        unused,
                    )
        finally:
            if self._outcome_timer is not None:
                self._outcome_timer.cancel()
            self._executor.shutdown(wait=True)
        if self._error is not None:
            raise self._error
