"""The page's routes: open a sheet, page and fix its rows, send it, follow the run, download.

Every route runs behind :class:`~lac_batch.web.security.Guard`. Routes that change something
answer with the part of the page they changed (htmx swaps it in); ``GET /`` renders the whole
page from the session's state, so a reopened tab shows the sheet and the run as they are.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive

from lac_batch.files.reader import SUFFIX_FORMATS
from lac_batch.files.table import FileFormat
from lac_batch.jobs.progress import duration_text
from lac_batch.jobs.retry import RetryOutcome, retry_failed
from lac_batch.jobs.submit import SubmitOptions
from lac_batch.ledger.queries import RecentResolution, recent_resolutions, resolve, unknowns
from lac_batch.ledger.store import Ledger, Resolution, RunSummary
from lac_batch.ledger.worklist import Resolved, UnknownRequest
from lac_batch.model.columns import column_letter
from lac_batch.model.errors import InputFileError, LacBatchError
from lac_batch.model.mapping import (
    IGNORE,
    KNOWN_NAMES,
    ColumnSetup,
    HeaderReading,
    HeaderRule,
    checked_entry,
    checked_mapping,
    fold,
)
from lac_batch.model.status import RESULT_COLUMNS, Status
from lac_batch.model.wording import count_of
from lac_batch.rows.validation import RequestSheet, plan_requests, read_headers, read_requests
from lac_batch.settings.columns import column_setup, save_profile
from lac_batch.settings.config import load_config
from lac_batch.settings.ledger_url import LedgerUrl
from lac_batch.web.runs import PageRun, run_submit
from lac_batch.web.security import Gate, Guard, Session
from lac_batch.web.sheet import EditableSheet, RowFilter
from lac_batch.web.workspace import (
    MAX_UPLOAD_BYTES,
    SessionFiles,
    free_name,
    private_folder,
    safe_file_name,
)

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []

_STATIC = "static"
_READ_FORMATS = ", ".join(sorted(f".{suffix.lstrip('.')}" for suffix in SUFFIX_FORMATS))
_PROGRESS_EVERY_S = 0.5


@dataclass(frozen=True)
class PageSettings:
    """What the command line resolved for the page: where runs send, with which key, ledger."""

    options: SubmitOptions
    """The key stays in here, in the server process; no page or response carries it."""
    destination: str
    """Where rows go, in words for the confirmation ("the embedded sandbox", a host)."""
    ledger: Path | LedgerUrl | None
    """The ledger runs use: a file or a PostgreSQL URL (None: the user's default, as the
    command line's)."""
    sessions_folder: Path
    columns: ColumnSetup = field(default_factory=ColumnSetup)
    """``[columns]`` and the profiles of the config file (the page's own mappings go over)."""
    config_path: Path | None = None
    """The config file the page runs with: where a profile is saved (None: none)."""
    retry_failed_for: timedelta = timedelta(hours=24)


@dataclass
class PageState:
    """One session's work: its files and the sheet it has open."""

    files: SessionFiles
    sheet: EditableSheet | None = None
    upload: Path | None = None
    open_problem: str = ""
    sheet_names: list[str] = field(default_factory=list)
    sheet_name: str | None = None
    """The sheet chosen for the upload (None: the only one that fits)."""
    overrides: dict[str, str] = field(default_factory=dict)
    """Header → target changed in the Columns panel (as ``--map``, over the config's)."""
    columns: ColumnsView | None = None
    columns_problem: str = ""
    columns_note: str = ""


@dataclass(frozen=True)
class ColumnsView:
    """How the open file's headers are understood, for the Columns panel."""

    readings: tuple[HeaderReading, ...]
    header_row: int
    profile: str | None

    @property
    def near_misses(self) -> list[HeaderReading]:
        return [reading for reading in self.readings if reading.rule is HeaderRule.NEAR_MISS]


@dataclass
class ServerState:
    settings: PageSettings
    run: PageRun | None = None
    """The server's latest run (one at a time); it outlives the tab that started it."""
    runs_started: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    columns: ColumnSetup = field(default_factory=ColumnSetup)
    """The config's mappings, read again when the page saves a profile into it."""
    resending: asyncio.Lock = field(default_factory=asyncio.Lock)


class _TooLarge(Exception):
    pass


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that gives up once the body passes ``limit`` bytes."""
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge()
        return message

    return limited


def _templates() -> Environment:
    folder = Path(str(resources.files("lac_batch.web") / "templates"))
    environment = Environment(
        loader=FileSystemLoader(folder), autoescape=select_autoescape(default=True)
    )
    environment.filters["local_time"] = _local_time
    environment.filters["count"] = count_of
    return environment


def _local_time(moment: str | None) -> str:
    if not moment:
        return "did not finish"
    return datetime.fromisoformat(moment).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def create_app(settings: PageSettings, gate: Gate) -> Starlette:
    """The page's ASGI app; ``gate`` holds its login token and sessions."""
    templates = _templates()
    state = ServerState(settings, columns=settings.columns)

    def new_session(session_id: str) -> dict[str, Any]:
        folder = private_folder(settings.sessions_folder) / session_id[:16]
        return {"page": PageState(SessionFiles(folder))}

    gate._new_session = new_session

    def page_of(request: Request) -> tuple[Session, PageState]:
        session: Session = request.state.session
        page: PageState = session.state["page"]
        return session, page

    def render(name: str, request: Request, status: int = 200, **values: Any) -> HTMLResponse:
        session, page = page_of(request)
        run = state.run
        context = {
            "csrf": session.csrf,
            "page": page,
            "run": run,
            "run_view": _run_view(run) if run is not None else None,
            "settings": settings,
            "formats": _READ_FORMATS,
            "result_columns": RESULT_COLUMNS,
            "max_upload_mb": MAX_UPLOAD_BYTES // (1024 * 1024),
            "targets": _TARGETS,
            "letter": column_letter,
            "rules": HeaderRule,
            **values,
        }
        return HTMLResponse(templates.get_template(name).render(context), status_code=status)

    def grid(request: Request, **values: Any) -> HTMLResponse:
        _, page = page_of(request)
        if page.sheet is None:
            return render("workspace.html", request)
        row_filter = _row_filter(request.query_params.get("filter", values.pop("filter", "all")))
        number = _int(request.query_params.get("page", values.pop("page", 1)), 1)
        view = page.sheet.page(row_filter, number)
        return render("grid.html", request, grid=view, sheet=page.sheet, **values)

    async def home(request: Request) -> Response:
        _, page = page_of(request)
        view = page.sheet.page(RowFilter.ALL, 1) if page.sheet is not None else None
        return render("page.html", request, grid=view, sheet=page.sheet, **await _history())

    async def _recent() -> list[RunSummary] | str:
        return await asyncio.to_thread(_recent_runs, settings.ledger)

    async def _history(**values: Any) -> dict[str, Any]:
        worklist = await asyncio.to_thread(_worklist, settings.ledger)
        return {"runs": await _recent(), "worklist": worklist, **values}

    async def open_file(request: Request) -> Response:
        _, page = page_of(request)
        try:
            form = await Request(
                request.scope, _limited(request.receive, MAX_UPLOAD_BYTES + 64 * 1024)
            ).form(max_files=1, max_fields=8)
        except _TooLarge:
            page.open_problem = (
                f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB, the most the "
                "page takes; split it, or send it with lac-batch submit."
            )
            return render("workspace.html", request)
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            page.open_problem = "Choose a file to open first."
            return render("workspace.html", request)
        name = safe_file_name(upload.filename)
        destination = free_name(page.files.folder, name)
        destination.write_bytes(await upload.read())
        page.upload = destination
        page.overrides = {}
        page.columns_note = page.columns_problem = ""
        return await _open(request, page, destination, None)

    async def choose_sheet(request: Request) -> Response:
        _, page = page_of(request)
        form = await request.form()
        if page.upload is None:
            raise HTTPException(HTTPStatus.CONFLICT, "Open a file first.")
        return await _open(request, page, page.upload, str(form.get("sheet", "")) or None)

    def setup_of(page: PageState) -> ColumnSetup:
        """The config's mappings with the page's own over them (as ``--map`` over the config)."""
        entries = [checked_entry(s, t, _PANEL) for s, t in page.overrides.items()]
        return replace(state.columns, overrides=checked_mapping(entries))

    async def _open(request: Request, page: PageState, path: Path, sheet: str | None) -> Response:
        page.sheet = None
        page.open_problem = ""
        page.sheet_names = []
        page.sheet_name = sheet
        page.columns = None
        setup = setup_of(page)
        try:
            request_sheet = await asyncio.to_thread(read_requests, path, sheet=sheet, columns=setup)
            page.sheet = await asyncio.to_thread(EditableSheet, request_sheet, path)
            page.columns = _columns_view(request_sheet)
        except LacBatchError as error:
            page.open_problem = _named_as_uploaded(str(error), path, request)
            page.sheet_names = await asyncio.to_thread(_sheet_names, path)
            # The headers as they are read, so a missing column can be mapped in the page.
            with suppress(LacBatchError):
                report = await asyncio.to_thread(read_headers, path, sheet=sheet, columns=setup)
                page.columns = ColumnsView(
                    report.readings, report.header_row, report.mapping.profile
                )
        return render("workspace.html", request, grid=_first_page(page), sheet=page.sheet)

    async def _reread(request: Request, page: PageState) -> Response:
        """The sheet read again with the mapping now in effect: the file itself, or when cells
        were edited, the edited rows (their header row stays where it was found)."""
        if page.upload is None:
            raise HTTPException(HTTPStatus.CONFLICT, "Open a file first.")
        if page.sheet is None or not page.sheet.edits:
            return await _open(request, page, page.upload, page.sheet_name)
        old = page.sheet
        try:
            planned = await asyncio.to_thread(plan_requests, old.sheet.table, setup_of(page))
        except LacBatchError as error:
            page.columns_problem = _named_as_uploaded(str(error), old.source, request)
            return render("workspace.html", request, grid=_first_page(page), sheet=page.sheet)
        page.sheet = await asyncio.to_thread(EditableSheet, planned, old.source)
        page.sheet.edits = old.edits
        page.columns = _columns_view(planned)
        return render("workspace.html", request, grid=_first_page(page), sheet=page.sheet)

    async def map_column(request: Request) -> Response:
        _, page = page_of(request)
        form = await request.form()
        view = page.columns
        position = _int(form.get("position"), -1)
        if view is None or not 0 <= position < len(view.readings):
            raise HTTPException(HTTPStatus.BAD_REQUEST, "No such column.")
        header = view.readings[position].header
        # A button's choice (the suggestion, ignore, as before) or the text typed in.
        choice = form.get("choice")
        target = str(form.get("target", "") if choice is None else choice).strip()
        page.columns_problem = page.columns_note = ""
        changed = {k: v for k, v in page.overrides.items() if fold(k) != fold(header)}
        if target:
            changed[header] = target
        try:
            entries = [checked_entry(s, t, _PANEL) for s, t in changed.items()]
            checked_mapping(entries)
        except LacBatchError as error:
            page.columns_problem = str(error)
            return render("workspace.html", request, grid=_first_page(page), sheet=page.sheet)
        page.overrides = changed
        return await _reread(request, page)

    async def save_columns_profile(request: Request) -> Response:
        _, page = page_of(request)
        form = await request.form()
        view = page.columns
        if view is None:
            raise HTTPException(HTTPStatus.CONFLICT, "Open a file first.")
        name = str(form.get("name", "")).strip()
        page.columns_problem = page.columns_note = ""
        if view.near_misses:
            page.columns_problem = (
                "Map or ignore every header marked “did you mean” before saving a profile: a "
                "profile says how each header is read."
            )
            return render("workspace.html", request, grid=_first_page(page), sheet=page.sheet)
        entries = [
            (reading.header, reading.target or IGNORE)
            for reading in view.readings
            if reading.rule is not HeaderRule.BLANK
        ]
        try:
            saved = await asyncio.to_thread(save_profile, settings.config_path, name, entries)
            config = await asyncio.to_thread(load_config, saved)
            state.columns = column_setup(config)
        except LacBatchError as error:
            page.columns_problem = str(error)
            if settings.config_path is None:
                page.columns_problem += " Start the page with lac-batch ui --config PATH."
            return render("workspace.html", request, grid=_first_page(page), sheet=page.sheet)
        page.overrides = {}
        page.columns_note = (
            f"Saved as profile {name} in {saved}. A file with exactly these headers is read "
            "with it from now on, here and by lac-batch submit, run and columns."
        )
        return await _reread(request, page)

    async def rows(request: Request) -> Response:
        return grid(request)

    async def edit_cell(request: Request) -> Response:
        _, page = page_of(request)
        sheet = _open_sheet(page)
        form = await request.form()
        position = _int(form.get("position"), -1)
        column = _int(form.get("column"), -1)
        if not 0 <= position < sheet.row_count or not 0 <= column < len(sheet.headers):
            raise HTTPException(HTTPStatus.BAD_REQUEST, "No such cell.")
        sheet.set_cell(position, column, str(form.get("value", "")))
        return grid(request, filter=form.get("filter", "all"), page=form.get("page", 1))

    async def replace_text(request: Request) -> Response:
        _, page = page_of(request)
        sheet = _open_sheet(page)
        form = await request.form()
        column = _int(form.get("column"), -1)
        if not 0 <= column < len(sheet.headers):
            raise HTTPException(HTTPStatus.BAD_REQUEST, "Choose a column.")
        find, replacement = str(form.get("find", "")), str(form.get("replacement", ""))
        changed = await asyncio.to_thread(sheet.replace_in_column, column, find, replacement)
        header = sheet.headers[column]
        note = (
            f"Replaced in {count_of(changed, 'cell')} of {header}."
            if find
            else "Type the text to find."
        )
        return grid(request, note=note, filter=form.get("filter", "all"))

    async def row_body(request: Request) -> Response:
        _, page = page_of(request)
        sheet = _open_sheet(page)
        position = _int(request.path_params["position"], -1)
        if not 0 <= position < sheet.row_count:
            raise HTTPException(HTTPStatus.NOT_FOUND, "No such row.")
        return render(
            "body.html",
            request,
            row_number=sheet.sheet.table.row_numbers[position],
            body=sheet.body_of(position),
            issues=sheet.issues_of(position),
        )

    async def confirm_send(request: Request) -> Response:
        _, page = page_of(request)
        sheet = _open_sheet(page)
        return render(
            "confirm.html", request, sheet=sheet, busy=_busy(), problem=_near_miss_problem(page)
        )

    def _busy() -> bool:
        return state.run is not None and not state.run.finished

    async def send(request: Request) -> Response:
        _, page = page_of(request)
        sheet = _open_sheet(page)
        if _busy():
            return render("confirm.html", request, sheet=sheet, busy=True)
        if problem := _near_miss_problem(page):
            return render("confirm.html", request, sheet=sheet, problem=problem)
        source = sheet.source
        if sheet.edits:
            # The ledger and the results must name what was sent: the sheet as edited.
            copy = free_name(page.files.folder, f"{source.stem}.edited.xlsx")
            try:
                source = await asyncio.to_thread(sheet.save_copy, copy)
            except InputFileError as error:
                return render("confirm.html", request, sheet=sheet, problem=str(error))
        state.runs_started += 1
        run = PageRun(state.runs_started, source, settings.destination)
        # The edited copy has one sheet; an upload is read as it was opened.
        options = replace(
            settings.options,
            sheet=None if sheet.edits else sheet.sheet.table.sheet,
            columns=setup_of(page),
        )
        results = free_name(source.parent, f"{source.stem}.results{_results_suffix(source)}")
        task = asyncio.create_task(run_submit(run, options, settings.ledger, results))
        run.task = task
        state.run = run
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)
        task.add_done_callback(lambda _: _offer_results(page, run))
        return render("run.html", request)

    def _offer_results(page: PageState, run: PageRun) -> None:
        for path in run.results:
            if path.parent.resolve() == page.files.folder.resolve():
                page.files.offer(path)

    async def run_panel(request: Request) -> Response:
        return render("run.html", request)

    async def stop_run(request: Request) -> Response:
        if state.run is not None and not state.run.finished:
            state.run.stop.stop()
        return render("run.html", request)

    async def abandon_run(request: Request) -> Response:
        form = await request.form()
        if form.get("confirmed") != "yes":
            return render("run.html", request, confirm_abandon=True)
        if state.run is not None and not state.run.finished:
            state.run.stop.abandon()
        return render("run.html", request)

    async def run_results(request: Request) -> Response:
        run = state.run
        if run is None or run.outcome is None:
            return render("run.html", request)
        number = _int(request.query_params.get("page", 1), 1)
        return render(
            "results.html", request, **await _history(results_page=_results_page(run, number))
        )

    async def events(request: Request) -> Response:
        run = state.run
        if run is None:
            raise HTTPException(HTTPStatus.NOT_FOUND, "No run.")
        session, _ = page_of(request)

        async def stream() -> AsyncIterator[ServerSentEvent]:
            while True:
                run.progress.changed.clear()
                finished = run.finished
                html = templates.get_template("progress.html").render(
                    run=run, run_view=_run_view(run), csrf=session.csrf
                )
                yield ServerSentEvent(html, event="progress")
                if finished:
                    yield ServerSentEvent("finished", event="done")
                    return
                with suppress(TimeoutError):
                    await asyncio.wait_for(run.progress.changed.wait(), _PROGRESS_EVERY_S)
                # At most a few updates a second, however fast rows finish.
                await asyncio.sleep(0.2)

        return EventSourceResponse(stream(), ping=15)

    async def download(request: Request) -> Response:
        _, page = page_of(request)
        path = page.files.lookup(request.path_params["name"])
        if path is None:
            raise HTTPException(HTTPStatus.NOT_FOUND, "No such file in this session.")
        return FileResponse(path, filename=path.name)

    async def history(request: Request) -> Response:
        return render("history.html", request, **await _history())

    async def resolve_unknown(request: Request) -> Response:
        form = await request.form()
        key = str(form.get("key", ""))
        chosen = str(form.get("resolution", ""))
        event_id = str(form.get("event_id", "")).strip()
        note = str(form.get("note", "")).strip()
        try:
            resolution = Resolution(chosen)
            if resolution is not Resolution.ACCEPTED:
                event_id = ""  # the field is for "accepted" only; ignored for the other
            done = await asyncio.to_thread(
                resolve,
                resolution,
                keys=[key],
                event_id=event_id,
                note=note,
                ledger=settings.ledger,
            )
        except ValueError:
            raise HTTPException(HTTPStatus.BAD_REQUEST, "No such resolution.") from None
        except LacBatchError as error:
            return render("history.html", request, **await _history(worklist_problem=str(error)))
        said = [_resolved_words(item) for item in done]
        return render("history.html", request, **await _history(worklist_note=" ".join(said)))

    async def resend_unknown(request: Request) -> Response:
        _, page = page_of(request)
        form = await request.form()
        key = str(form.get("key", ""))
        note = str(form.get("note", "")).strip()
        if _busy() or state.resending.locked():
            problem = "A run is going on this server; resend when it has ended."
            return render("history.html", request, **await _history(worklist_problem=problem))
        async with state.resending:
            try:
                done = await asyncio.to_thread(
                    resolve, Resolution.NOT_PROCESSED, keys=[key], note=note, ledger=settings.ledger
                )
                # The retry path of the command line (lac-batch retry), for this one request:
                # its own base URL, account and Idempotency-Key, under the ledger's run lock.
                outcome = await asyncio.to_thread(
                    retry_failed,
                    settings.options,
                    ledger=settings.ledger,
                    retry_failed_for=settings.retry_failed_for,
                    results_folder=page.files.folder,
                    keys=[key],
                )
            except LacBatchError as error:
                return render(
                    "history.html", request, **await _history(worklist_problem=str(error))
                )
        if outcome.results_path is not None:
            page.files.offer(outcome.results_path)
        note_text = " ".join(
            [*(_resolved_words(item) for item in done), _resend_words(outcome, settings)]
        )
        return render(
            "history.html",
            request,
            **await _history(worklist_note=note_text, resent=outcome.results_path),
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        # The server is stopping (Ctrl-C in its terminal): a run stops as the CLI's does, and
        # the ledger and results file record what happened before the process ends.
        run = state.run
        if run is not None and run.task is not None and not run.task.done():
            run.stop.stop()
            await asyncio.wait({run.task}, timeout=settings.options.settings.timeout + 5)

    async def handle_http(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        return Response(f"{error.detail}\n", status_code=error.status_code)

    static = str(resources.files("lac_batch.web") / _STATIC)
    routes = [
        Route("/", home),
        Route("/open", open_file, methods=["POST"]),
        Route("/sheet", choose_sheet, methods=["POST"]),
        Route("/rows", rows),
        Route("/cell", edit_cell, methods=["POST"]),
        Route("/replace", replace_text, methods=["POST"]),
        Route("/rows/{position:int}/body", row_body),
        Route("/send/confirm", confirm_send, methods=["POST"]),
        Route("/send", send, methods=["POST"]),
        Route("/run", run_panel),
        Route("/run/events", events),
        Route("/run/results", run_results),
        Route("/run/stop", stop_run, methods=["POST"]),
        Route("/run/abandon", abandon_run, methods=["POST"]),
        Route("/files/{name:path}", download),
        Route("/history", history),
        Route("/columns", map_column, methods=["POST"]),
        Route("/columns/profile", save_columns_profile, methods=["POST"]),
        Route("/unknowns/resolve", resolve_unknown, methods=["POST"]),
        Route("/unknowns/resend", resend_unknown, methods=["POST"]),
        Mount("/static", StaticFiles(directory=static), name="static"),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: handle_http}
    )
    app.add_middleware(Guard, gate=gate)
    return app


def _first_page(page: PageState) -> Any:
    return page.sheet.page(RowFilter.ALL, 1) if page.sheet is not None else None


_PANEL = "the Columns panel"
_TARGETS = (*KNOWN_NAMES, "metadata.KEY", "metadata.KEY:int", IGNORE)
"""What the Columns panel offers to map a header to (a metadata key is typed in)."""


def _columns_view(sheet: RequestSheet) -> ColumnsView:
    plan = sheet.plan
    return ColumnsView(plan.readings, plan.header_row, plan.mapping.profile)


def _near_miss_problem(page: PageState) -> str:
    """Why the sheet cannot be sent as its headers are read (as submit refuses it), or ""."""
    if page.columns is None or not page.columns.near_misses:
        return ""
    said = "; ".join(
        f"'{reading.header}': did you mean {reading.suggestion}?"
        for reading in page.columns.near_misses
    )
    return (
        f"Not sent: {said} Map each such header in the Columns panel, or ignore it there on "
        "purpose; submit refuses such a file too, so a mistyped column is never dropped unseen."
    )


def _resolved_words(item: Resolved) -> str:
    how = item.resolution.value.replace("_", " ")
    return f"{item.file_name} row {item.row_number}: was {item.earlier_state}, resolved {how}."


def _resend_words(outcome: RetryOutcome, settings: PageSettings) -> str:
    if settings.retry_failed_for <= timedelta(0):
        return (
            "Retrying is off (retry_failed_for = 0 in the config file): it is failed now, and a "
            "rerun of its file resends it with the same key."
        )
    parts = []
    for row in outcome.retried:
        result = row.result
        got = f"{result.status.value}" + (f" (event {result.event_id})" if result.event_id else "")
        if result.error and not result.event_id:
            got += f" ({result.error})"
        parts.append(f"Resent with the same Idempotency-Key: {got}.")
    parts += [f"Not resent: {left.why}." for left in outcome.left]
    if outcome.expired:
        parts.append(
            "Not resent: its retry window (retry_failed_for) is over; send its file again."
        )
    if outcome.stop_message:
        parts.append(f"Stopped: {outcome.stop_message}")
    if outcome.results_problem:
        parts.append(outcome.results_problem)
    return " ".join(parts) or "Nothing was resent (no such failed request is waiting)."


def _worklist(ledger: Path | LedgerUrl | None) -> Worklist:
    from lac_batch.ledger.store import default_ledger_path

    path = ledger or default_ledger_path()
    if isinstance(path, Path) and not path.exists():
        return Worklist([], [])
    try:
        return Worklist(unknowns(ledger), recent_resolutions(ledger, limit=10))
    except LacBatchError as error:
        return Worklist([], [], str(error))


@dataclass(frozen=True)
class Worklist:
    unknown: list[UnknownRequest]
    resolved: list[RecentResolution]
    problem: str = ""


def _open_sheet(page: PageState) -> EditableSheet:
    if page.sheet is None:
        raise HTTPException(HTTPStatus.CONFLICT, "Open a file first.")
    return page.sheet


def _row_filter(value: object) -> RowFilter:
    try:
        return RowFilter(str(value))
    except ValueError:
        return RowFilter.ALL


def _int(value: object, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def _results_suffix(source: Path) -> str:
    return ".csv" if SUFFIX_FORMATS.get(source.suffix.lower()) is FileFormat.CSV else ".xlsx"


def _named_as_uploaded(text: str, path: Path, request: Request) -> str:
    """A reader's message names the file by the name the user chose, not the session's path."""
    return text.replace(str(path), path.name)


def _sheet_names(path: Path) -> list[str]:
    """The sheets of a workbook, for the Sheet choice (none for a CSV or an unreadable file)."""
    if SUFFIX_FORMATS.get(path.suffix.lower()) in (None, FileFormat.CSV):
        return []
    try:
        from python_calamine import CalamineWorkbook

        names: list[str] = list(CalamineWorkbook.from_path(str(path)).sheet_names)
    except Exception:  # an unreadable workbook has no sheets to offer; its error is shown
        return []
    return names if len(names) > 1 else []


def _recent_runs(ledger: Path | LedgerUrl | None) -> list[RunSummary] | str:
    from lac_batch.ledger.store import default_ledger_path

    path = ledger or default_ledger_path()
    if isinstance(path, Path) and not path.exists():
        return []
    try:
        opened = Ledger.open(path)
    except LacBatchError as error:
        return str(error)
    try:
        return opened.runs(limit=20)
    finally:
        opened.close()


@dataclass(frozen=True)
class RunView:
    done: int
    total: int
    percent: int
    counts: list[tuple[str, int]]
    rate: str
    eta: str
    elapsed: str


def _run_view(run: PageRun) -> RunView:
    snapshot = run.progress.snapshot()
    if snapshot is None:
        return RunView(0, 0, 100 if run.outcome is not None else 0, [], "—", "—", "—")
    percent = 100 * snapshot.done // snapshot.total if snapshot.total else 0
    if run.outcome is not None:
        percent = 100
    eta = "—"
    if not run.finished and snapshot.eta_s is not None and snapshot.done < snapshot.total:
        eta = f"about {duration_text(snapshot.eta_s)} left"
    return RunView(
        snapshot.done,
        snapshot.total,
        percent,
        sorted((status.value, count) for status, count in snapshot.counts.items()),
        f"{snapshot.rate:.1f} req/s",
        eta,
        duration_text(snapshot.elapsed_s),
    )


@dataclass(frozen=True)
class ResultsPage:
    rows: list[tuple[str, ...]]
    page: int
    pages: int
    counts: list[tuple[str, int]]


def _results_page(run: PageRun, number: int, size: int = 50) -> ResultsPage:
    assert run.outcome is not None
    results = run.outcome.results
    ordered = sorted(results, key=lambda result: result.status is Status.ACCEPTED)
    pages = max(1, -(-len(ordered) // size))
    number = min(max(number, 1), pages)
    chosen = ordered[(number - 1) * size : number * size]
    counts = sorted((status.value, count) for status, count in run.outcome.counts.items())
    return ResultsPage(
        [tuple("" if cell is None else str(cell) for cell in result.cells()) for result in chosen],
        number,
        pages,
        counts,
    )
