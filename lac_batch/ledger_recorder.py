"""Writing the ledger while sending, without making every request wait for its own disk write.

Before an attempt leaves, its record must be committed as ``sending``. Committing each one alone
(with ``synchronous=FULL``) would cost an fsync per request, so attempts that want to start while
a commit is in progress are gathered into the next commit (group commit): each still waits for a
commit that contains it, but one fsync serves many. Final outcomes ride along in the same
commits and do not hold anyone up. SQLite work runs on one worker thread so the event loop keeps
handling answers meanwhile.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from lac_batch.ledger import Ledger, SendingMark
from lac_batch.results import RowResult
from lac_batch.submit import Job

__all__ = ["LedgerRecorder"]


class LedgerRecorder:
    """A send gate and observer of :class:`~lac_batch.submit.Submitter` that keeps the ledger."""

    def __init__(self, ledger: Ledger, marks: dict[str, SendingMark]) -> None:
        self._ledger = ledger
        self._marks = marks
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lac-ledger")
        self._waiting: list[tuple[SendingMark, asyncio.Future[None]]] = []
        self._outcomes: list[tuple[str, RowResult]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._error: Exception | None = None

    async def before_send(self, job: Job, attempt_number: int) -> None:
        """Return once this attempt is committed as ``sending``; raises LedgerError if it cannot."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((self._marks[job.idempotency_key], done))
        self._schedule()
        await done

    def attempt_starting(self, job: Job, attempt_number: int) -> None:
        """Nothing to do: :meth:`before_send` already recorded the attempt."""

    def row_finished(self, job: Job, result: RowResult) -> None:
        self._outcomes.append((job.idempotency_key, result))
        self._schedule()

    def _schedule(self) -> None:
        if self._error is not None:
            for _, done in self._waiting:
                if not done.done():
                    done.set_exception(self._error)
            self._waiting.clear()
            return
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting or self._outcomes:
            waiting, self._waiting = self._waiting, []
            outcomes, self._outcomes = self._outcomes, []
            marks = [mark for mark, _ in waiting]
            try:
                await loop.run_in_executor(
                    self._executor, self._ledger.write_batch, marks, outcomes
                )
            except Exception as error:
                # Kept for aclose(); every attempt still waiting learns of it and is not sent.
                self._error = error
                for _, done in waiting + self._waiting:
                    if not done.done():
                        done.set_exception(error)
                self._waiting.clear()
                return
            for _, done in waiting:
                if not done.done():
                    done.set_result(None)

    async def aclose(self) -> None:
        """Write every outcome still pending, then stop the writer thread."""
        self._schedule()
        try:
            if self._flushing is not None:
                await self._flushing
        finally:
            self._executor.shutdown(wait=True)
        if self._error is not None:
            raise self._error
