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
from datetime import datetime
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
from lac_batch.jobs.submit import SubmitOptions
from lac_batch.ledger.store import Ledger, RunSummary
from lac_batch.model.errors import InputFileError, LacBatchError
from lac_batch.model.status import RESULT_COLUMNS, Status
from lac_batch.rows.validation import read_requests
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


@dataclass
class PageState:
    """One session's work: its files and the sheet it has open."""

    files: SessionFiles
    sheet: EditableSheet | None = None
    upload: Path | None = None
    open_problem: str = ""
    sheet_names: list[str] = field(default_factory=list)


@dataclass
class ServerState:
    settings: PageSettings
    run: PageRun | None = None
    """The server's latest run (one at a time); it outlives the tab that started it."""
    runs_started: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


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
    return environment


def _local_time(moment: str | None) -> str:
    if not moment:
        return "did not finish"
    return datetime.fromisoformat(moment).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def create_app(settings: PageSettings, gate: Gate) -> Starlette:
    """The page's ASGI app; ``gate`` holds its login token and sessions."""
    templates = _templates()
    state = ServerState(settings)

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
        return render("page.html", request, grid=view, sheet=page.sheet, runs=await _recent())

    async def _recent() -> list[RunSummary] | str:
        return await asyncio.to_thread(_recent_runs, settings.ledger)

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
        return await _open(request, page, destination, None)

    async def choose_sheet(request: Request) -> Response:
        _, page = page_of(request)
        form = await request.form()
        if page.upload is None:
            raise HTTPException(HTTPStatus.CONFLICT, "Open a file first.")
        return await _open(request, page, page.upload, str(form.get("sheet", "")) or None)

    async def _open(request: Request, page: PageState, path: Path, sheet: str | None) -> Response:
        page.sheet = None
        page.open_problem = ""
        page.sheet_names = []
        try:
            request_sheet = await asyncio.to_thread(read_requests, path, sheet=sheet)
            page.sheet = await asyncio.to_thread(EditableSheet, request_sheet, path)
        except LacBatchError as error:
            page.open_problem = _named_as_uploaded(str(error), path, request)
            page.sheet_names = await asyncio.to_thread(_sheet_names, path)
        return render("workspace.html", request, grid=_first_page(page), sheet=page.sheet)

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
        note = f"Replaced in {changed} cells of {header}." if find else "Type the text to find."
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
        return render("confirm.html", request, sheet=sheet, busy=_busy())

    def _busy() -> bool:
        return state.run is not None and not state.run.finished

    async def send(request: Request) -> Response:
        _, page = page_of(request)
        sheet = _open_sheet(page)
        if _busy():
            return render("confirm.html", request, sheet=sheet, busy=True)
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
        options = replace(settings.options, sheet=None if sheet.edits else sheet.sheet.table.sheet)
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
            "results.html", request, results_page=_results_page(run, number), runs=await _recent()
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
        return render("history.html", request, runs=await _recent())

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
        Mount("/static", StaticFiles(directory=static), name="static"),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: handle_http}
    )
    app.add_middleware(Guard, gate=gate)
    return app


def _first_page(page: PageState) -> Any:
    return page.sheet.page(RowFilter.ALL, 1) if page.sheet is not None else None


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


def _run_view(run: PageRun) -> RunView:
    progress = run.progress
    percent = 100 * progress.done // progress.total if progress.total else 0
    if run.outcome is not None:
        percent = 100
    counts = sorted((status.value, count) for status, count in progress.counts.items())
    rate = progress.rate
    return RunView(
        progress.done,
        progress.total,
        percent,
        counts,
        "—" if rate is None else f"{rate:.1f} rows/s",
        "—" if run.finished else _duration(progress.eta_seconds),
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
