"""Make docs/results-workbook.png, the README's picture of a results workbook.

    .venv/bin/python docs/make_results_picture.py

It runs `lac-batch validate samples/requests-with-errors.csv --results …xlsx` in a temporary
folder (nothing is sent anywhere), prints that workbook to PDF with LibreOffice headless
(`libreoffice --headless --convert-to pdf`; a copy set to landscape, one page wide, so every
request column shows), turns the first page into a PNG with `pdftoppm -png`, and crops the
white margin with Pillow when it is installed (else the whole page is kept). LibreOffice and
pdftoppm (poppler-utils) must be installed. Run it again whenever the results writer changes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

DOCS = Path(__file__).resolve().parent
SAMPLE = DOCS.parent / "samples" / "requests-with-errors.csv"
PICTURE = DOCS / "results-workbook.png"
LAC_BATCH = Path(sys.executable).with_name("lac-batch")


def run(*args: str | Path, cwd: Path) -> None:
    subprocess.run([str(arg) for arg in args], cwd=cwd, check=True, timeout=180)


def results_workbook(folder: Path) -> Path:
    """The results of validating the sample, as the user gets them (exit 1: some rows invalid)."""
    results = folder / "requests-with-errors.results.xlsx"
    done = subprocess.run(
        [str(LAC_BATCH), "validate", str(SAMPLE), "--results", str(results)],
        cwd=folder,
        timeout=120,
        capture_output=True,
        text=True,
    )
    if done.returncode not in (0, 1) or not results.exists():
        raise SystemExit(f"validate failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return results


def printable_copy(results: Path, folder: Path) -> Path:
    """A copy that prints the result block and the request columns (up to `note`) on one
    landscape page width; the metadata columns further right would make the text unreadable."""
    workbook = load_workbook(results)
    for sheet in workbook.worksheets:
        if sheet.sheet_state != "visible":
            continue
        headers = [cell.value for cell in sheet[1]]
        last = headers.index("note") + 1 if "note" in headers else len(headers)
        sheet.print_area = f"A1:{get_column_letter(last)}{sheet.max_row}"
        sheet.page_setup.orientation = "landscape"
        sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
        sheet.page_setup.fitToWidth = 1
        sheet.page_setup.fitToHeight = 0
        sheet.print_options.gridLines = True
    copy = folder / "print" / results.name
    copy.parent.mkdir()
    workbook.save(copy)
    return copy


def crop(png: Path) -> None:
    """Cut the page's white margin, keeping a small border (needs Pillow; else leave the page)."""
    try:
        from PIL import Image, ImageChops
    except ImportError:
        print("Pillow is not installed: keeping the whole page", file=sys.stderr)
        return
    with Image.open(png) as page:
        image = page.convert("RGB")
    background = Image.new("RGB", image.size, (255, 255, 255))
    box = ImageChops.difference(image, background).getbbox()
    if box is None:
        return
    left, top, right, bottom = box
    border = 16
    image.crop(
        (
            max(left - border, 0),
            max(top - border, 0),
            min(right + border, image.width),
            min(bottom + border, image.height),
        )
    ).save(png, optimize=True)


def main() -> None:
    office = shutil.which("libreoffice") or shutil.which("soffice")
    if office is None or shutil.which("pdftoppm") is None:
        raise SystemExit("needs LibreOffice (libreoffice) and pdftoppm (poppler-utils)")
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        copy = printable_copy(results_workbook(folder), folder)
        # A private profile, so a LibreOffice already open on this desktop is not disturbed.
        profile = (folder / "profile").as_uri()
        run(
            office,
            f"-env:UserInstallation={profile}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            folder,
            copy,
            cwd=folder,
        )
        pdf = folder / copy.with_suffix(".pdf").name
        run(
            "pdftoppm",
            "-png",
            "-r",
            "110",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            pdf,
            "page",
            cwd=folder,
        )
        page = folder / "page.png"
        crop(page)
        shutil.copyfile(page, PICTURE)
    print(PICTURE)


if __name__ == "__main__":
    main()
