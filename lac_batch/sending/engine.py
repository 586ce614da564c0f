"""Sending valid rows: pacing, concurrency, the retry policy, and stopping cleanly.

Every job given to :meth:`Submitter.run` comes back with exactly one :class:`RowResult`, whatever
happens: answers, network failures, a refused key, an interruption. What is resent is decided by
:func:`action_after` from the :class:`~lac_batch.sending.api.OutcomeKind` alone, in one exhaustive
``match`` (mypy --strict refuses a kind without a case), and :meth:`Submitter._deliver` carries
out each :class:`AttemptAction`:

    ACCEPTED       → accepted
    REJECTED       → rejected; but when the first three answers are all 404 the base URL is wrong:
                     stop, and every row answered 404 is failed (nothing was delivered)
    AUTH_REFUSED   → stop the run; this row and all unsent rows → not_sent
    RATE_LIMITED   → pause every worker for Retry-After (or backoff), resend; not counted as an
                     attempt
    NOT_DELIVERED  → backoff with jitter (or a 503's Retry-After), resend up to max_attempts,
                     then failed
    AMBIGUOUS      → unknown; with retry_ambiguous, resend with the same Idempotency-Key up to
                     max_attempts (still unknown if none of them is answered)

A row's waits after answers that ask it to wait (429, 503, …) are measured by the clock and
bounded by max_wait in all, then it is failed; a Retry-After that gives no usable hint (zero,
negative, past) waits as if absent, never less than :data:`MIN_WAIT_WITHOUT_HINT_S`.

A row that had an AMBIGUOUS attempt never ends ``failed`` or ``not_sent``: it may have been
processed, so it ends ``unknown`` unless a later attempt is answered. Nor does an exception of
any kind end a worker or leave a row without a result: unexpected trouble once an attempt may
have left makes the row ``unknown``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol, assert_never, runtime_checkable

from lac_batch.model.advice import ambiguous_advice
from lac_batch.model.status import RowResult, SentAttempt, Status
from lac_batch.model.wording import Option, count_of, option_name
from lac_batch.sending.api import ENDPOINT_PATH, Attempt, LacClient, OutcomeKind
from lac_batch.sending.credentials import PRODUCTION_BASE_URL, ApiKey, probable_base_url
from lac_batch.sending.pacing import Concurrency, InFlightLimit, StartPacer, Turn

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

WRONG_BASE_URL_AFTER_404S = 3
MIN_WAIT_WITHOUT_HINT_S = 1.0
"""The shortest wait after an answer that asks to wait without a usable Retry-After: however
the server answers, one row is never resent faster than about once a second."""

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubmitSettings:
    """The sending policy. The user's settings have no defaults here: they are stated once, in
    :class:`lac_batch.settings.config.Settings`, whose ``submit_settings()`` builds this."""

    rate: float
    """Requests started per second, at most."""
    concurrency: Concurrency
    """Requests in flight, at most: a number, or ``auto`` (adapted to the rate and latency)."""
    timeout: float
    max_attempts: int
    max_wait: float
    """Seconds one row may spend waiting after answers that ask it to wait (429, 503), in all,
    measured by the clock."""
    retry_ambiguous: bool
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    hintless_wait_floor: float = MIN_WAIT_WITHOUT_HINT_S
    """Least wait after an answer asking to wait without a usable Retry-After (tests of the
    policy shorten it)."""


@dataclass(frozen=True, slots=True)
class Job:
    """One valid row to send."""

    row_number: int
    body_json: str
    idempotency_key: str
    account: str = ""
    """Whose key sends it (a keys file's account name); "" for the one key of the run."""


class StopReason(StrEnum):
    AUTH_REFUSED = "auth_refused"
    WRONG_BASE_URL = "wrong_base_url"
    INTERRUPTED = "interrupted"
    RECORDING_FAILED = "recording_failed"
    """The ledger could not be written, so nothing more may be sent."""
    DECLINED = "declined"
    """The person asked before the first request said no: nothing was sent."""


class SubmitObserver(Protocol):
    """Told about every attempt before it leaves, and every row's final result."""

    def attempt_starting(self, job: Job, attempt_number: int) -> None: ...

    def row_finished(self, job: Job, result: RowResult) -> None: ...


class SendGate(Protocol):
    """Awaited before every attempt; the attempt leaves only if it returns None (the ledger's
    ``sending`` commit). A result instead ends the row with it, unsent (another run claimed the
    request). An exception stops the run: nothing is sent that was not recorded."""

    async def before_send(self, job: Job, attempt_number: int) -> RowResult | None: ...


@dataclass
class SubmitRun:
    results: dict[int, RowResult] = field(default_factory=dict)
    stop_reason: StopReason | None = None
    stop_message: str = ""
    refused: dict[str, str] = field(default_factory=dict)
    """Account → why its key was refused (401/403); its rows were not sent."""
    latency: float | None = None
    """Recent average seconds from a request's start to its answer (None: no answer)."""
    concurrency: int = 0
    """Requests in flight at most, as the run ended (``auto``'s last limit, or the fixed one)."""
    auto_concurrency: bool = False
    retries: int = 0
    """Requests sent again in this run (after 429, 503, a failure to connect, …)."""
    slowdowns: int = 0
    """Times the server answered 429 (asked to slow down); each paused every worker."""


@dataclass(frozen=True, slots=True)
class RetryNotice:
    """A request is about to be sent again, after ``wait_s`` seconds: what a front end shows so
    that throttling and retries are not invisible."""

    row_number: int
    http_status: int | None
    """The answer that asked for it (429, 503, …); None when no answer came (connection)."""
    retry_after: float | None
    """The server's Retry-After hint, if it gave a usable one."""
    wait_s: float
    paused_all: bool
    """Every worker pauses (429: the server asked to slow down), not just this row's."""
    retries: int
    """Requests sent again so far in the run, this one included."""


@runtime_checkable
class RetryObserver(Protocol):
    """An observer that is also told each time a request is going to be sent again."""

    def retrying(self, notice: RetryNotice) -> None: ...


@runtime_checkable
class PaceObserver(Protocol):
    """An observer that is also told the latency and concurrency in use after each answer."""

    def pace(self, latency: float | None, concurrency: int) -> None: ...


_ROW_REASONS = {
    StopReason.WRONG_BASE_URL: "the base URL looks wrong (404 Not Found); safe to send again",
}
"""What a row stopped by this reason says, when the run's message (printed once) is long."""


@dataclass
class _RowState:
    attempts: int = 0
    counted: int = 0
    waits: int = 0
    """Waits asked for by the server so far (they make the next backoff longer)."""
    waited: float = 0.0
    """Clock seconds spent so far between such answers and the next attempt."""
    waiting_since: float | None = None
    """When the current such wait began (loop time), None when not waiting."""
    maybe_processed: bool = False
    last: Attempt | None = None
    tried: list[SentAttempt] = field(default_factory=list)
    """Each request sent for the row and its answer, carried on its result (no ledger write per
    attempt: the recorder writes them with the outcome)."""
    leaving_at: datetime | None = None
    """When the request now in flight left (None when none is)."""

    def unanswered(self) -> tuple[SentAttempt, ...]:
        """The attempts, with the one in flight (if any) as sent without an answer."""
        if self.leaving_at is None:
            return tuple(self.tried)
        return (*self.tried, SentAttempt(self.leaving_at, None, "no answer was read"))


class AttemptAction(StrEnum):
    """What the engine does with a row after one attempt (the table in the module docstring)."""

    ACCEPT = "accept"
    """The row is accepted."""
    REJECT = "reject"
    """The row is rejected (unless the first answers all 404: a wrong base URL)."""
    REFUSE_KEY = "refuse_key"
    """Send nothing more with this account's key; the row is not_sent."""
    PAUSE_ALL = "pause_all"
    """Pause every worker for the wait asked, then resend; not counted as an attempt."""
    RESEND = "resend"
    """Surely not processed: resend with the same key up to max_attempts, then failed."""
    MAYBE_PROCESSED = "maybe_processed"
    """May have been processed: unknown, or resent with the same key under retry_ambiguous."""


def action_after(kind: OutcomeKind) -> AttemptAction:
    """The one decision from an attempt's outcome kind to what is done with its row."""
    match kind:
        case OutcomeKind.ACCEPTED:
            return AttemptAction.ACCEPT
        case OutcomeKind.REJECTED:
            return AttemptAction.REJECT
        case OutcomeKind.AUTH_REFUSED:
            return AttemptAction.REFUSE_KEY
        case OutcomeKind.RATE_LIMITED:
            return AttemptAction.PAUSE_ALL
        case OutcomeKind.NOT_DELIVERED:
            return AttemptAction.RESEND
        case OutcomeKind.AMBIGUOUS:
            return AttemptAction.MAYBE_PROCESSED
        case _:
            # A kind without a case fails type checking here, and at run time costs the row
            # its certainty (unknown), never a silent resend.
            assert_never(kind)


class Submitter:
    """Sends jobs through a :class:`LacClient` under the pacing and retry policy of ``settings``."""

    def __init__(
        self,
        client: LacClient,
        settings: SubmitSettings,
        observers: Sequence[SubmitObserver] = (),
        rng: random.Random | None = None,
        gates: Sequence[SendGate] = (),
        keys: Mapping[str, ApiKey] | None = None,
    ) -> None:
        self._client = client
        self._keys = dict(keys or {})
        self._accounts: set[str] = set()
        self._settings = settings
        self._observers = list(observers)
        self._gates = list(gates)
        self._rng = rng or random.Random()
        self._run = SubmitRun()
        self.in_flight_limit = InFlightLimit(settings.rate, settings.concurrency)
        """How many requests may be in flight (read by the ledger's lookahead)."""
        self._pace_observers = [item for item in self._observers if isinstance(item, PaceObserver)]
        self._retry_observers = [
            item for item in self._observers if isinstance(item, RetryObserver)
        ]
        self.in_flight = 0
        """Requests written or being written whose answer has not come yet."""
        self._refusals: dict[str, str] = {}
        """Account → why its key was refused, without the server's words: what its rows say."""
        self._stop_event: asyncio.Event | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._answers_seen = 0
        self._not_found_seen = 0
        self._held_not_found: list[tuple[Job, RowResult]] = []
        """Rows answered 404 while every answer so far was 404: rejected if another answer
        proves the base URL right, failed if the run stops for a wrong base URL."""

    # --- stopping -------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._run.stop_reason is not None

    def request_stop(self, reason: StopReason, message: str) -> None:
        """Start no new request; in-flight ones finish. The first reason given is kept."""
        if self._run.stop_reason is None:
            self._run.stop_reason = reason
            self._run.stop_message = message
        if self._stop_event is not None:
            self._stop_event.set()

    def force_stop(self) -> None:
        """Abandon in-flight requests too (a second Ctrl-C); their rows end ``unknown``."""
        self.request_stop(StopReason.INTERRUPTED, "interrupted")
        for worker in self._workers:
            worker.cancel()

    # --- the run --------------------------------------------------------------------------

    async def run(self, jobs: Sequence[Job]) -> SubmitRun:
        """Send every job; return exactly one result per job, keyed by row number."""
        self._stop_event = asyncio.Event()
        if self.stopping:
            self._stop_event.set()
        self._accounts = {job.account for job in jobs}
        pacer = StartPacer(self._settings.rate, limit=self.in_flight_limit)
        queue: asyncio.Queue[Job] = asyncio.Queue()
        for job in jobs:
            queue.put_nowait(job)
        # As many workers as may ever be in flight; the pacer decides how many are.
        self._workers = [
            asyncio.create_task(self._worker(queue, pacer))
            for _ in range(max(1, min(self.in_flight_limit.most, len(jobs))))
        ]
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._run.latency = self.in_flight_limit.latency
        self._run.concurrency = self.in_flight_limit.current
        self._run.auto_concurrency = not self.in_flight_limit.fixed
        self._release_held_not_found()
        for job in jobs:
            if job.row_number not in self._run.results:
                self._finish(job, self._unsent(job, _RowState()))
        return self._run

    async def _worker(self, queue: asyncio.Queue[Job], pacer: StartPacer) -> None:
        while not queue.empty():
            job = queue.get_nowait()
            state = _RowState()
            try:
                result = await self._deliver(job, state, pacer)
            except asyncio.CancelledError:
                unsent = self._unsent(job, state, in_flight=True)
                self._finish(job, replace(unsent, tried=state.unanswered()))
                raise
            except Exception as error:
                # A bug or a surprise must cost at most this row's certainty, never the worker.
                _log.debug("unexpected failure sending row %s", job.row_number, exc_info=True)
                result = self._unexpected(job, state, error)
            self._finish(job, replace(result, tried=state.unanswered()))

    def _finish(self, job: Job, result: RowResult) -> None:
        if job.row_number in self._run.results:
            return
        if result.status is Status.REJECTED and result.http_status == 404:
            if self._run.stop_reason is StopReason.WRONG_BASE_URL:
                result = self._not_delivered(result)
            elif self._not_found_seen == self._answers_seen:
                self._held_not_found.append((job, result))
                return
        self._record(job, result)

    def _record(self, job: Job, result: RowResult) -> None:
        self._run.results[job.row_number] = result
        for observer in self._observers:
            try:
                observer.row_finished(job, result)
            except Exception as error:
                # The row has its result; an observer (progress, notification, the ledger's
                # outcome, left `sending` and so reported unknown later) must not cost the others.
                _log.warning("recording the result of row %s failed: %r", job.row_number, error)

    def _unexpected(self, job: Job, state: _RowState, error: Exception) -> RowResult:
        """The result of a row whose delivery raised: unknown once an attempt may have left."""
        what = f"unexpected failure ({type(error).__name__}: {error})"[:300]
        if state.attempts:
            return RowResult.unknown(
                job.row_number,
                http_status=state.last.http_status if state.last else None,
                error=f"{what}; {ambiguous_advice()}",
                attempts=state.attempts,
            )
        return RowResult.unsent(job.row_number, error=f"not sent: {what}")

    # --- one row --------------------------------------------------------------------------

    def _backoff(self, attempt_number: int) -> float:
        ceiling = min(
            self._settings.backoff_cap, self._settings.backoff_base * 2 ** (attempt_number - 1)
        )
        return self._rng.uniform(0, ceiling)

    def _asked_wait(self, state: _RowState, attempt: Attempt) -> float | None:
        """How long to wait after an answer asking to wait, or None once max_wait is spent.

        The server's hint is capped by what is left of max_wait; without a usable hint the wait
        grows with each one, with jitter, and is never under ``hintless_wait_floor``.
        """
        left = self._settings.max_wait - state.waited
        if left <= 0:
            return None
        state.waits += 1
        wait = attempt.retry_after
        if wait is None:
            wait = self._settings.hintless_wait_floor + self._backoff(state.waits)
        if attempt.kind is OutcomeKind.NOT_DELIVERED:
            wait = max(wait, self._backoff(state.counted))
        state.waiting_since = asyncio.get_running_loop().time()
        return min(wait, left)

    def _stop_waiting(self, state: _RowState) -> None:
        """Add the clock time since the wait began (pauses of other rows included) to the row's."""
        if state.waiting_since is not None:
            state.waited += asyncio.get_running_loop().time() - state.waiting_since
            state.waiting_since = None

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the run is stopped."""
        assert self._stop_event is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), timeout=max(0.0, seconds))

    def _unsent(self, job: Job, state: _RowState, *, in_flight: bool = False) -> RowResult:
        """The result of a row the run stopped before it was settled."""
        stop_reason = self._run.stop_reason
        reason = (_ROW_REASONS.get(stop_reason) if stop_reason is not None else None) or (
            self._run.stop_message or "the run stopped"
        )
        last = state.last
        if in_flight or state.maybe_processed:
            what = "stopped while waiting for the answer" if in_flight else last and last.error
            return RowResult.unknown(
                job.row_number,
                http_status=last.http_status if last else None,
                error=f"{what}; {ambiguous_advice()}",
                attempts=state.attempts,
            )
        error = f"not sent: {reason}"
        if last is not None:
            error += f" (after {count_of(state.attempts, 'attempt')}; last: {last.error})"
        return RowResult.unsent(
            job.row_number,
            http_status=last.http_status if last else None,
            error=error,
            attempts=state.attempts or None,
        )

    def _unsent_refused(self, job: Job, state: _RowState) -> RowResult:
        """A row whose account's key was refused by an earlier answer: never sent with it."""
        result = self._unsent(job, state)
        if result.status is Status.NOT_SENT and not state.attempts:
            return RowResult.unsent(
                job.row_number, error=f"not sent: {self._refusals[job.account]}"
            )
        return result

    def _exhausted(self, job: Job, state: _RowState, why: str) -> RowResult:
        last = state.last
        assert last is not None
        advice = ambiguous_advice() if state.maybe_processed else "safe to send again"
        return RowResult.exhausted(
            job.row_number,
            maybe_processed=state.maybe_processed,
            http_status=last.http_status,
            error=f"{why}; last: {last.error}; {advice}",
            attempts=state.attempts,
        )

    def _waited_too_long(self, job: Job, state: _RowState) -> RowResult:
        return self._exhausted(
            job,
            state,
            "the server kept asking to wait for longer than "
            f"{option_name(Option.MAX_WAIT)} ({self._settings.max_wait:g} s)",
        )

    def _note_answer(self, attempt: Attempt) -> None:
        """Watch for a wrong base URL: the first answers all 404."""
        if attempt.http_status is None:
            return
        self._answers_seen += 1
        if attempt.http_status != 404:
            self._release_held_not_found()  # the base URL works: those 404s were the rows' own
            return
        self._not_found_seen += 1
        if self._not_found_seen == self._answers_seen == WRONG_BASE_URL_AFTER_404S:
            base_url = self._client.url.removesuffix(ENDPOINT_PATH)
            meant = probable_base_url(base_url)
            guess = f"; did you mean {meant}?" if meant else ""
            self.request_stop(
                StopReason.WRONG_BASE_URL,
                f"the first {WRONG_BASE_URL_AFTER_404S} requests all got 404 Not Found, so the "
                f"base URL {base_url} looks wrong (the production one is "
                f"{PRODUCTION_BASE_URL}){guess} Nothing was delivered: every row is failed or "
                "not_sent, safe to send again with the corrected base URL "
                f"({option_name(Option.BASE_URL)}, "
                "LAC_BASE_URL or base_url in the config file)",
            )
            self._release_held_not_found()

    def _release_held_not_found(self) -> None:
        held, self._held_not_found = self._held_not_found, []
        for job, result in held:
            wrong_url = self._run.stop_reason is StopReason.WRONG_BASE_URL
            self._record(job, self._not_delivered(result) if wrong_url else result)

    def _not_delivered(self, result: RowResult) -> RowResult:
        """A 404 from a wrong base URL: the request reached no endpoint, so it is not the row's
        fault and nothing was delivered."""
        failed = RowResult.failed(
            result.row_number,
            http_status=result.http_status,
            error=f"not delivered: {_ROW_REASONS[StopReason.WRONG_BASE_URL]} (server said "
            f"{result.error})",
            attempts=result.attempts,
        )
        return replace(failed, tried=result.tried)

    def _refuse(self, account: str, attempt: Attempt) -> str:
        """Stop sending with this account's key; stop the run once every key is refused."""
        whose = f"the API key of account {account}" if account else "the API key"
        problem = (
            f"{whose} was refused (401): it is invalid, revoked or expired"
            if attempt.http_status == 401
            else f"{whose} may not send requests (403): it needs write scope"
        )
        self._run.refused.setdefault(account, f"{problem}; server said {attempt.error}")
        self._refusals.setdefault(account, problem)
        if self._accounts <= set(self._run.refused):
            self.request_stop(StopReason.AUTH_REFUSED, self._run.refused[account])
        return problem

    def _answered(self, turn: Turn, attempt: Attempt) -> None:
        """Feed the answer's latency to the concurrency limit, and show what is in use."""
        if attempt.http_status is None:
            return
        now = asyncio.get_running_loop().time()
        limit = self.in_flight_limit
        limit.answered(now - turn.start, now, overloaded=attempt.http_status in (429, 503))
        for observer in self._pace_observers:
            observer.pace(limit.latency, limit.current)

    async def _deliver(self, job: Job, state: _RowState, pacer: StartPacer) -> RowResult:
        settings = self._settings
        while True:
            if self.stopping:
                return self._unsent(job, state)
            if job.account in self._run.refused:
                return self._unsent_refused(job, state)
            assert self._stop_event is not None
            turn = await pacer.wait_turn(self._stop_event)
            if turn is None:
                return self._unsent(job, state)
            if job.account in self._run.refused:
                pacer.release(turn, sent=False)
                return self._unsent_refused(job, state)
            verdict: RowResult | None = None
            try:
                for gate in self._gates:
                    verdict = verdict or await gate.before_send(job, state.attempts + 1)
            except Exception as error:
                pacer.release(turn, sent=False)
                self.request_stop(
                    StopReason.RECORDING_FAILED, f"the ledger could not be written: {error}"
                )
                return self._unsent(job, state)
            if verdict is not None:
                pacer.release(turn, sent=False)
                return verdict
            self._stop_waiting(state)
            state.attempts += 1
            for observer in self._observers:
                observer.attempt_starting(job, state.attempts)
            self.in_flight += 1
            state.leaving_at = datetime.now(UTC)
            try:
                attempt = await self._client.send(
                    job.body_json,
                    job.idempotency_key,
                    self._keys.get(job.account),
                    on_written=functools.partial(pacer.written, turn),
                )
            finally:
                self.in_flight -= 1
                pacer.release(turn)
            state.tried.append(SentAttempt(state.leaving_at, attempt.http_status, attempt.error))
            state.leaving_at = None
            self._answered(turn, attempt)
            state.last = attempt
            self._note_answer(attempt)
            wait: float | None = None
            match action_after(attempt.kind):
                case AttemptAction.ACCEPT:
                    return RowResult.accepted(
                        job.row_number,
                        attempt.event_id,
                        http_status=attempt.http_status,
                        error=attempt.error,
                        attempts=state.attempts,
                    )
                case AttemptAction.REJECT:
                    return RowResult.rejected(
                        job.row_number,
                        http_status=attempt.http_status,
                        error=attempt.error,
                        attempts=state.attempts,
                    )
                case AttemptAction.REFUSE_KEY:
                    problem = self._refuse(job.account, attempt)
                    return RowResult.unsent(
                        job.row_number,
                        http_status=attempt.http_status,
                        error=f"not sent: {problem}",
                        attempts=state.attempts,
                    )
                case AttemptAction.PAUSE_ALL:
                    wait = self._asked_wait(state, attempt)
                    if wait is None:
                        return self._waited_too_long(job, state)
                    pacer.pause_until(asyncio.get_running_loop().time() + wait)
                    self._run.slowdowns += 1
                    self._retrying(job, attempt, wait, paused_all=True)
                    continue
                case AttemptAction.RESEND:
                    state.counted += 1
                    if attempt.http_status is not None:
                        # An answer asking to wait (503, 408, 409 key in use); a failure to
                        # connect is not asked, so it only backs off.
                        wait = self._asked_wait(state, attempt)
                        if wait is None:
                            return self._waited_too_long(job, state)
                case AttemptAction.MAYBE_PROCESSED:
                    state.counted += 1
                    state.maybe_processed = True
                    if not settings.retry_ambiguous:
                        return RowResult.unknown(
                            job.row_number,
                            http_status=attempt.http_status,
                            error=f"{attempt.error}; {ambiguous_advice()}",
                            attempts=state.attempts,
                        )
                case unhandled:
                    assert_never(unhandled)
            if state.counted >= settings.max_attempts:
                return self._exhausted(
                    job, state, f"gave up after {count_of(state.attempts, 'attempt')}"
                )
            delay = self._backoff(state.counted) if wait is None else wait
            self._retrying(job, attempt, delay, paused_all=False)
            await self._pause(delay)

    def _retrying(self, job: Job, attempt: Attempt, wait: float, *, paused_all: bool) -> None:
        """Count a resend and tell the observers that listen for them."""
        self._run.retries += 1
        notice = RetryNotice(
            job.row_number,
            attempt.http_status,
            attempt.retry_after,
            wait,
            paused_all,
            self._run.retries,
        )
        for observer in self._retry_observers:
            try:
                observer.retrying(notice)
            except Exception as error:
                _log.warning("telling of the retry of row %s failed: %r", job.row_number, error)
