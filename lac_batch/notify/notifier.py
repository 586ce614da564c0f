"""Deciding whether a run's outcome is worth a message, and sending it to every target.

Files are told once by nature (a processed file leaves the inbox). Problems that repeat on every
run are told once per change of state: when first seen, and "recovered" when a later run proves
them gone (see :class:`~lac_batch.notify.state.ProblemKind` for what proves each). That state is
kept in the ledger; if the ledger cannot be used, problems are told on every run rather than
never.

A notification never changes a run's exit code or results: :meth:`Notifier.notify` never raises;
what goes wrong is handed to ``warn`` as one line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from lac_batch.jobs.inbox_pass import FileOutcome, PassOutcome
from lac_batch.jobs.submit import SubmitOutcome
from lac_batch.ledger.lock import RunLock
from lac_batch.ledger.store import new_ledger_notice
from lac_batch.model.errors import DeliveryError
from lac_batch.model.exit_codes import ExitCode
from lac_batch.model.status import RowResult, Status
from lac_batch.notify.message import FIRST_ROW_ERRORS, FileEvent, ProblemEvent, RowError, compose
from lac_batch.notify.settings import NotifySettings, Trigger
from lac_batch.notify.state import ProblemKind, ProblemStore
from lac_batch.notify.targets import Target, targets_of
from lac_batch.sending.engine import StopReason
from lac_batch.settings.ledger_url import LedgerUrl

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

_TRIGGER_OF_PROBLEM = {
    ProblemKind.AUTH_REFUSED: Trigger.AUTH,
    ProblemKind.LOCK_STUCK: Trigger.CANNOT_START,
    ProblemKind.CONFIG: Trigger.CANNOT_START,
    ProblemKind.START_FAILED: Trigger.CANNOT_START,
    ProblemKind.STOPPED: Trigger.CANNOT_START,
    ProblemKind.NEW_LEDGER: Trigger.NEW_LEDGER,
    ProblemKind.RESULTS_NOT_WRITTEN: Trigger.RESULTS_NOT_WRITTEN,
}
_ROWS_WORTH_TELLING = frozenset({Status.REJECTED.value, Status.FAILED.value, Status.UNKNOWN.value})
_ROW_TRIGGERS = frozenset({Trigger.ROWS, Trigger.INVALID})
_KEY_PROVEN = frozenset({Status.ACCEPTED.value, Status.REJECTED.value})
"""A row the API accepted or rejected on its merits: the key and base URL work."""
_STOP_PROBLEMS = {
    ExitCode.AUTH_REFUSED: ProblemKind.AUTH_REFUSED,
    ExitCode.UNUSABLE: ProblemKind.STOPPED,
}
"""A file that stopped a ``run`` pass with this exit code → the problem it shows."""
_SUBMIT_STOP_PROBLEMS = {
    StopReason.AUTH_REFUSED: ProblemKind.AUTH_REFUSED,
    StopReason.WRONG_BASE_URL: ProblemKind.STOPPED,
    StopReason.RECORDING_FAILED: ProblemKind.STOPPED,
}


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    summary: str


@dataclass
class Observation:
    """What one run showed: files needing a look, problems present, problems proven gone."""

    command: str
    exit_code: int | None
    files: list[FileEvent] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    cleared: set[ProblemKind] = field(default_factory=set)
    notices: list[Problem] = field(default_factory=list)
    """Told once, as they happen, and never kept as open problems (a new ledger)."""


def deliver_all(
    targets: Sequence[Target], deliver: Callable[[Target], None]
) -> list[tuple[Target, DeliveryError | None]]:
    """Try every target; what each one said (None: delivered)."""
    outcomes: list[tuple[Target, DeliveryError | None]] = []
    for target in targets:
        try:
            deliver(target)
        except DeliveryError as error:
            outcomes.append((target, error))
        else:
            outcomes.append((target, None))
    return outcomes


def _row_errors(results: Sequence[RowResult], trigger: Trigger = Trigger.ROWS) -> list[RowError]:
    """The first row errors a file's message shows: of every row not OK, or of invalid rows
    only when the message is for them alone (``on_invalid``)."""
    problems = [
        RowError(result.row_number, result.status.value, result.error)
        for result in results
        if result.status not in (Status.ACCEPTED, Status.SKIPPED)
        and result.error
        and (trigger is not Trigger.INVALID or result.status is Status.INVALID)
    ]
    return problems[:FIRST_ROW_ERRORS]


class Notifier:
    """Notifications of one command; a no-op without targets.

    ``state_path`` is the ledger holding the state (None: none, every problem is told each time).
    ``secrets`` are scrubbed from every message. ``warn`` receives one line per failed delivery.
    """

    def __init__(
        self,
        settings: NotifySettings,
        *,
        command: str,
        state_path: Path | LedgerUrl | None,
        secrets: Sequence[str],
        warn: Callable[[str], None],
        ca_bundle: Path | None = None,
    ) -> None:
        self.settings = settings
        self.command = command
        self.state_path = state_path
        self.secrets = [secret for secret in secrets if secret]
        self.warn = warn
        self.targets = targets_of(settings, ca_bundle)

    # --- what a run showed -------------------------------------------------------------------

    def after_pass(self, outcome: PassOutcome) -> None:
        """``run``: one pass over the inbox returned."""
        if not self.targets:
            return
        self.notify(self._observe_pass(outcome))

    def after_run_failure(self, error: Exception) -> None:
        """``run``: a pass could not start although the settings loaded (e.g. the ledger)."""
        if not self.targets:
            return
        observation = Observation(self.command, ExitCode.UNUSABLE, cleared={ProblemKind.CONFIG})
        observation.problems.append(Problem(ProblemKind.START_FAILED, str(error)))
        self.notify(observation)

    def after_cannot_start(self, error: Exception) -> None:
        """The settings (config file, environment, key) could not be used."""
        if not self.targets:
            return
        observation = Observation(self.command, ExitCode.UNUSABLE)
        observation.problems.append(Problem(ProblemKind.CONFIG, str(error)))
        self.notify(observation)

    def after_submit(self, input_path: Path, outcome: SubmitOutcome) -> None:
        """``submit``: the summary was printed."""
        if not self.targets:
            return
        observation = Observation(
            self.command, int(outcome.exit_code), cleared={ProblemKind.CONFIG}
        )
        counts = {status.value: count for status, count in outcome.counts.items()}
        run = outcome.run
        stop_reason = run.stop_reason if run is not None else None
        stop_problem = _SUBMIT_STOP_PROBLEMS.get(stop_reason) if stop_reason else None
        if outcome.results_problem:
            summary = f"{input_path.name}: {outcome.results_problem}"
            observation.problems.append(Problem(ProblemKind.RESULTS_NOT_WRITTEN, summary))
        elif outcome.written is not None:
            observation.cleared.add(ProblemKind.RESULTS_NOT_WRITTEN)
        if run is not None and stop_problem is not None:
            summary = f"{input_path.name}: {run.stop_message}"
            observation.problems.append(Problem(stop_problem, summary))
        elif (trigger := self._rows_trigger(counts)) is not None:
            observation.files.append(
                FileEvent(
                    trigger,
                    input_path.name,
                    counts,
                    results=None if outcome.written is None else str(outcome.written.path),
                    row_errors=_row_errors(outcome.results, trigger),
                )
            )
        if _KEY_PROVEN & {status for status, n in counts.items() if n}:
            observation.cleared |= {ProblemKind.AUTH_REFUSED, ProblemKind.STOPPED}
        self.notify(observation)

    def _observe_pass(self, outcome: PassOutcome) -> Observation:
        observation = Observation(
            self.command,
            int(outcome.exit_code),
            cleared={ProblemKind.CONFIG, ProblemKind.START_FAILED},
        )
        if outcome.new_ledger is not None:
            notice = new_ledger_notice(outcome.new_ledger)
            observation.notices.append(Problem(ProblemKind.NEW_LEDGER, notice))
        if outcome.exit_code is ExitCode.LOCKED:
            observation.problems.append(Problem(ProblemKind.LOCK_STUCK, self._lock_summary()))
        else:
            # Any pass that got past the lock check (or found it held only briefly, by a newer
            # run) proves the stuck holder gone.
            observation.cleared.add(ProblemKind.LOCK_STUCK)
        proven = False
        # The retry of failed rows is told as a file of its own (its results file).
        retry = [outcome.retry] if outcome.retry is not None else []
        for file in [*outcome.files, *retry]:
            counts: dict[str, int] = dict(file.fields.get("counts") or {})
            proven = proven or bool(_KEY_PROVEN & {s for s, n in counts.items() if n})
            if file.exit_code is ExitCode.RESULTS_NOT_WRITTEN:
                # Its line says where the results are, or that the next pass writes them.
                observation.problems.append(Problem(ProblemKind.RESULTS_NOT_WRITTEN, file.line))
            elif file.fields.get("results"):
                observation.cleared.add(ProblemKind.RESULTS_NOT_WRITTEN)
            problem_kind = _STOP_PROBLEMS.get(file.exit_code) if file.stopped_run else None
            if problem_kind is not None:
                summary = f"{file.source.name}: {file.fields.get('stopped', file.line)}"
                observation.problems.append(Problem(problem_kind, summary))
            elif not file.stopped_run:
                event = self._file_event(file, counts)
                if event is not None:
                    observation.files.append(event)
        if proven:
            observation.cleared |= {ProblemKind.AUTH_REFUSED, ProblemKind.STOPPED}
        return observation

    def _file_event(self, file: FileOutcome, counts: dict[str, int]) -> FileEvent | None:
        fields = file.fields
        if "failed" in fields:
            return FileEvent(
                Trigger.FAILED_FILE,
                file.source.name,
                failed=str(fields["failed"]),
                error=str(fields.get("error", "")),
            )
        trigger = self._rows_trigger(counts)
        if trigger is None:
            return None
        results = str(fields.get("results", "")) or None
        return FileEvent(
            trigger,
            file.source.name,
            counts,
            results=results,
            archived=fields.get("archived"),
        )

    def _rows_trigger(self, counts: dict[str, int]) -> Trigger | None:
        """The trigger a file's rows pull: ``on_rows`` for rows rejected, failed or unknown (its
        message lists invalid rows too), else ``on_invalid`` for invalid rows; None if off."""
        present = {status for status, n in counts.items() if n}
        if _ROWS_WORTH_TELLING & present and self.settings.enabled(Trigger.ROWS):
            return Trigger.ROWS
        if Status.INVALID.value in present and self.settings.enabled(Trigger.INVALID):
            return Trigger.INVALID
        return None

    def _lock_summary(self) -> str:
        if not isinstance(self.state_path, Path):
            return "another run holds the lock"
        holder = RunLock(self.state_path).holder()
        return f"another run still holds the ledger's lock ({holder.describe()})"

    # --- deciding and sending ----------------------------------------------------------------

    def notify(self, observation: Observation) -> None:
        """Tell what is new in ``observation``; never raises, never changes the run."""
        if not self.targets:
            return
        try:
            self._notify(observation)
        except Exception as error:  # a notification must never fail the run, whatever it is
            self.warn(f"notifications: {type(error).__name__}: {error}")

    def _open_store(self) -> ProblemStore | None:
        if self.state_path is None:
            return None
        try:
            store = ProblemStore.open(self.state_path)
        except Exception as error:  # without state, problems are told every run, not never
            self.warn(
                f"notifications: state cannot be kept in the ledger ({error}); problems are "
                "notified on every run until it can"
            )
            return None
        if store.created_ledger:
            self.warn(f"{new_ledger_notice(self.state_path)} (created to keep notification state)")
        return store

    def _notify(self, observation: Observation) -> None:
        settings = self.settings
        files = [event for event in observation.files if settings.enabled(event.trigger)]
        present = {
            problem.kind: problem
            for problem in observation.problems
            if settings.enabled(_TRIGGER_OF_PROBLEM[problem.kind])
        }
        store = self._open_store()
        try:
            self._decide_and_send(observation, files, present, store)
        finally:
            if store is not None:
                store.close()

    def _decide_and_send(
        self,
        observation: Observation,
        files: list[FileEvent],
        present: dict[ProblemKind, Problem],
        store: ProblemStore | None,
    ) -> None:
        started = [
            ProblemEvent(notice.kind, notice.summary, "now")
            for notice in observation.notices
            if self.settings.enabled(_TRIGGER_OF_PROBLEM[notice.kind])
        ]
        recovered: list[ProblemEvent] = []
        if store is None:
            started += [ProblemEvent(kind, p.summary, "now") for kind, p in present.items()]
        else:
            known = store.open_problems()
            for kind, problem in present.items():
                stored = store.record(kind, problem.summary)
                if stored.notified_at is None:
                    started.append(ProblemEvent(kind, problem.summary, stored.since))
            gone = [kind for kind in observation.cleared if kind in known and kind not in present]
            never_told = [kind for kind in gone if known[kind].notified_at is None]
            store.clear(never_told)
            for kind in gone:
                told = known[kind]
                if told.notified_at is not None:
                    recovered.append(ProblemEvent(kind, told.summary, told.since, recovered=True))
            files = [self._with_row_errors(event, store) for event in files]
        if not (files or started or recovered):
            return
        message = compose(
            command=observation.command,
            exit_code=observation.exit_code,
            files=files,
            problems=[*started, *recovered],
            secrets=self.secrets,
        )
        outcomes = deliver_all(self.targets, lambda target: target.deliver(message))
        for _, error in outcomes:
            if error is not None:
                self.warn(f"notification not delivered: {error}")
        if store is not None and any(error is None for _, error in outcomes):
            store.mark_notified(event.kind for event in started)
            store.clear(event.kind for event in recovered)

    @staticmethod
    def _with_row_errors(event: FileEvent, store: ProblemStore) -> FileEvent:
        if event.trigger not in _ROW_TRIGGERS or event.row_errors or event.results is None:
            return event
        rows = store.row_results(event.results)
        return replace(event, row_errors=_row_errors(rows, event.trigger))
