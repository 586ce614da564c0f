"""The local web page (``lac-batch ui``): open a sheet, fix its cells, send it, watch it go.

It holds the page's server (Starlette, Jinja2 templates, server-sent events), the editable sheet
behind the rows grid, the run a page starts, the login and request checks, and the vendored
htmx files (``static/``, with their licences). It sits beside ``cli`` at the top of the layers:
it may import every stage below (jobs, ledger, rows, files, settings, sending, model), never
``cli`` or click; the command line starts it (``cli/ui.py``) with settings already resolved.
Only this package imports jinja2, sse_starlette and multipart, and only when ``ui`` runs.
"""

__all__: list[str] = []
