"""Regenerate the bundled samples: ``python samples/generate.py`` (deterministic output)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import xlsxwriter

HERE = Path(__file__).resolve().parent

HEADERS = [
    "connection_key",
    "request_type",
    "customer_id",
    "note",
    "metadata.company_name",
    "metadata.business_id",
    "metadata.contact.email",
    "metadata.monthly_transactions:int",
    "metadata.start_date:date",
    "metadata.vat_registered:bool",
    "metadata.estimated_fee_eur:float",
]

COMPANIES = [
    ("Kahvila Aamukaste Oy", "0112038-9", "tilit@aamukaste.fi"),
    ("Rakennus Järvinen Oy", "2345678-1", "kirjanpito@rakennusjarvinen.fi"),
    ("Tmi Sari Mäkelä", "0765432-0", "sari.makela@example.fi"),
    ("Pohjolan Puutarha Ky", "1987654-3", "talous@pohjolanpuutarha.fi"),
    ("Öljy-Huolto Lahtinen Oy", "3021456-8", "laskut@oljyhuolto.fi"),
    ("Saaristo Design Oy", "2874512-6", "hallinto@saaristodesign.fi"),
    ("Koodipaja Kuopio Oy", "3156789-2", "raha@koodipaja.fi"),
    ("Hiusstudio Äänekoski", "0456123-5", "studio@hiusaanekoski.fi"),
    ("Lapin Lumipalvelut Oy", "2698741-4", "toimisto@lapinlumi.fi"),
    ("Turun Tilitoimisto Tase Oy", "1123581-3", "asiakkaat@tasetilit.fi"),
    ("Vantaan Varaosa Oy", "2233445-5", "ostot@varaosa.fi"),
    ("Espoon Eläinklinikka Oy", "0099887-7", "talous@elainklinikka.fi"),
]
CONNECTIONS = [
    ("bank:nordea", "setup", "Uusi yritystili, yhdistä tiliotteet."),
    ("bank:op", "setup", "OP:n yritystili käyttöön."),
    ("stripe", "setup", "Verkkokaupan maksut Stripen kautta."),
    ("procountor", "change", "Siirrytään Procountorista LAC:iin, historia mukaan."),
    ("inbox:gmail", "setup", "Ostolaskut tulevat osoitteeseen laskut@."),
    ("google_sheets", "change", "Kassaraportti siirtyy uuteen taulukkoon."),
    ("fennoa", "disconnect", "Fennoa ei ole enää käytössä 1.1. alkaen."),
]


def sample_rows() -> list[list[object]]:
    rows: list[list[object]] = []
    for number in range(36):
        company, business_id, email = COMPANIES[number % len(COMPANIES)]
        connection_key, request_type, note = CONNECTIONS[number % len(CONNECTIONS)]
        start = dt.date(2027, 1, 1) + dt.timedelta(days=7 * (number % 9))
        fee = round(19.9 + 4.25 * (number % 6), 2)
        rows.append(
            [
                connection_key,
                request_type,
                "",
                note if number % 4 else "",
                company,
                business_id,
                email,
                120 + 35 * number,
                start,
                number % 5 != 0,
                fee,
            ]
        )
    return rows


def _csv_text(value: object) -> str:
    if isinstance(value, bool):
        return "kyllä" if value else "ei"
    if isinstance(value, dt.date):
        return f"{value.day}.{value.month}.{value.year}"
    if isinstance(value, float):
        return f"{value:.2f}".replace(".", ",")
    return str(value)


def write_csv(path: Path, rows: list[list[object]]) -> None:
    # Written the way Finnish Excel saves "CSV UTF-8": BOM, semicolons, decimal commas.
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream, delimiter=";", lineterminator="\r\n")
        writer.writerow(HEADERS)
        writer.writerows([_csv_text(value) for value in row] for row in rows)


def write_xlsx(path: Path, rows: list[list[object]]) -> None:
    workbook = xlsxwriter.Workbook(str(path))
    # A fixed creation time keeps the file byte-identical from one generation to the next.
    workbook.set_properties({"created": dt.datetime(2026, 11, 26, 6, 0, 0)})
    sheet = workbook.add_worksheet("Pyynnöt")
    bold = workbook.add_format({"bold": True})
    date_format = workbook.add_format({"num_format": "d.m.yyyy"})
    money = workbook.add_format({"num_format": "#,##0.00"})
    sheet.write_row(0, 0, HEADERS, bold)
    for line, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            if isinstance(value, dt.date):
                sheet.write_datetime(
                    line, column, dt.datetime.combine(value, dt.time()), date_format
                )
            elif isinstance(value, bool):
                sheet.write_boolean(line, column, value)
            elif isinstance(value, (int, float)):
                sheet.write_number(line, column, value, money if isinstance(value, float) else None)
            elif value != "":
                sheet.write_string(line, column, str(value))
    sheet.freeze_panes(1, 0)
    sheet.set_column(0, len(HEADERS) - 1, 22)
    workbook.close()


ERROR_ROWS = [
    # (what is wrong, row)
    [
        "bank:nordea",
        "setup",
        "",
        "Kunnossa oleva rivi.",
        "Kahvila Aamukaste Oy",
        "0112038-9",
        "tilit@aamukaste.fi",
        "150",
        "1.2.2027",
        "kyllä",
        "19,90",
    ],
    [
        "",
        "setup",
        "",
        "Yhteystyyppi puuttuu.",
        "Rakennus Järvinen Oy",
        "2345678-1",
        "kirjanpito@rakennusjarvinen.fi",
        "40",
        "2027-02-01",
        "ei",
        "25",
    ],
    [
        "stripe",
        "",
        "",
        "Pyynnön tyyppi puuttuu.",
        "Tmi Sari Mäkelä",
        "0765432-0",
        "sari.makela@example.fi",
        "12,5",
        "31.2.2027",
        "ehkä",
        "abc",
    ],
    [
        "procountor",
        "change",
        "",
        "",
        "Pohjolan Puutarha Ky",
        "1987654-3",
        "talous@pohjolanpuutarha.fi",
        "1 200",
        "huomenna",
        "1",
        "1.234,50",
    ],
    [
        "bank:nordea",
        "setup",
        "",
        "Kunnossa oleva rivi.",
        "Kahvila Aamukaste Oy",
        "0112038-9",
        "tilit@aamukaste.fi",
        "150",
        "1.2.2027",
        "kyllä",
        "19,90",
    ],
    [
        "inbox:gmail",
        "setup",
        "",
        "Liian suuri luku ja nan.",
        "Saaristo Design Oy",
        "2874512-6",
        "hallinto@saaristodesign.fi",
        "99999999999999999999",
        "2027-03-01",
        "yes",
        "nan",
    ],
]


def write_error_csv(path: Path) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream, delimiter=";", lineterminator="\r\n")
        writer.writerow(HEADERS)
        writer.writerows(ERROR_ROWS)


if __name__ == "__main__":
    rows = sample_rows()
    write_csv(HERE / "requests.csv", rows)
    write_xlsx(HERE / "requests.xlsx", rows)
    write_error_csv(HERE / "requests-with-errors.csv")
