"""Files in and out: CSV/XLSX/XLS/ODS read into tables of exact cell text with spreadsheet row
numbers, results files written (and read back), templates, the inbox folders, file modes.

May import: ``model``. No validation rules, no HTTP, no ledger.
"""

# Not public: lac_batch/__init__.py names the public surface.
__all__: list[str] = []
