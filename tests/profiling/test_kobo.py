"""KoboToolbox CSV / XLSX readers: tiny exports built in code, shaped like real downloads."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from profiling.errors import InputTooLarge, UnsupportedFormat
from profiling.ingest.kobo import (
    FormExport,
    read_kobo_csv,
    read_kobo_xlsx,
    report_rows,
    sniff_delimiter,
)
from profiling.report import Report

# A Kobo "XML values and headers" CSV export: ';', every field quoted, UTF-8 with BOM, groups
# joined with '/', a select_multiple (text + 0/1 columns) and a geopoint (text + 4 columns).
KOBO_CSV = (
    '"start";"grp_hh/Sex_HH";"grp_hh/hh_size";"grp_hh/code";"HHITEMS";"HHITEMS/radio";'
    '"HHITEMS/tv";"gps";"_gps_latitude";"_gps_longitude";"_gps_altitude";"_gps_precision";'
    '"_id";"_uuid";"_submission_time";"_index"\n'
    '"2021-06-01T10:22:33.000+03:00";"M";"4";"01";"radio tv";"1";"1";'
    '"-1.2921 36.8219 1650 4.5";"-1.2921";"36.8219";"1650";"4.5";'
    '"101";"uuid-a";"2021-06-01T07:30:00";"1"\n'
    '"2021-06-02T09:00:00.000+03:00";"F";"3,5";"NA";"";"";"";"";"";"";"";"";'
    '"102";"uuid-b";"2021-06-02T06:10:00";"2"\n'
    '"2021-06-03T08:00:00.000+03:00";"X";"x";"";"tv";"0";"1";"0 0 0 0";"0";"0";"0";"0";'
    '"103";"uuid-c";"2021-06-03T05:00:00";"3"\n'
)


def write(path: Path, text: str, *, bom: bool = True, encoding: str = "utf-8") -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
    return path


# -- CSV --------------------------------------------------------------------------------------


def test_csv_semicolon_bom_reads_every_value_as_text(tmp_path: Path) -> None:
    export = read_kobo_csv(write(tmp_path / "hh.csv", KOBO_CSV), max_rows=10)
    assert isinstance(export, FormExport)
    main = export.main
    assert export.separator == ";"
    assert export.group_separator == "/"
    assert export.repeats == {}
    assert main.columns[0] == "start"  # BOM stripped from the first header
    assert main["source_row"].tolist() == [1, 2, 3]
    assert main["source_row"].dtype == np.int64
    assert main.loc[0, "grp_hh/code"] == "01"  # leading zero kept
    assert main.loc[1, "grp_hh/code"] == "NA"  # a code, not a missing value
    assert pd.isna(main.loc[2, "grp_hh/code"])  # empty -> missing
    assert main.loc[1, "grp_hh/hh_size"] == "3,5"  # nothing parsed at read time
    assert main.loc[0, "gps"] == "-1.2921 36.8219 1650 4.5"
    assert main.loc[0, "_submission_time"] == "2021-06-01T07:30:00"
    assert pd.api.types.is_string_dtype(main["_id"])
    assert export.report.facts["rows"] == 3
    assert not export.report.has_errors


def test_csv_comma_without_bom(tmp_path: Path) -> None:
    text = "_uuid,grp/a,grp/b\nu1,1,\nu2,,x\n"
    export = read_kobo_csv(write(tmp_path / "c.csv", text, bom=False))
    assert export.separator == ","
    assert export.main["grp/b"].isna().tolist() == [True, False]


def test_quoted_newline_and_separator_inside_values(tmp_path: Path) -> None:
    text = '"_uuid";"comment"\n"u1";"two\nlines; one semicolon"\n"u2";"ok"\n'
    main = read_kobo_csv(write(tmp_path / "q.csv", text)).main
    assert main["comment"].tolist() == ["two\nlines; one semicolon", "ok"]
    assert main["source_row"].tolist() == [1, 2]  # data rows, not physical lines


def test_sniff_delimiter_ignores_quoted_text() -> None:
    assert sniff_delimiter('"a, b, c";"d"') == ";"
    assert sniff_delimiter("a\tb\tc") == "\t"
    assert sniff_delimiter("lonely") == ","


def test_duplicate_and_blank_headers_are_renamed_and_reported(tmp_path: Path) -> None:
    text = "q,q,,source_row\n1,2,3,4\n"
    export = read_kobo_csv(write(tmp_path / "d.csv", text, bom=False))
    assert list(export.main.columns) == ["q", "q.1", "column_3", "source_row.1", "source_row"]
    assert export.main.loc[0, "source_row.1"] == "4"
    rules = sorted(p.rule for p in export.report)
    assert rules == ["blank_header", "duplicate_header", "reserved_column"]


def test_group_separator_detected_from_meta_columns(tmp_path: Path) -> None:
    text = "grp.q,meta.instanceID\n1,uuid:a\n"
    export = read_kobo_csv(write(tmp_path / "g.csv", text, bom=False))
    assert export.group_separator == "."
    given = read_kobo_csv(tmp_path / "g.csv", group_separator=":")
    assert given.group_separator == ":"


def test_windows_1252_file_is_read_with_a_warning(tmp_path: Path) -> None:
    text = "_uuid;Site\nu1;Côte d'Ivoire\n"
    export = read_kobo_csv(write(tmp_path / "w.csv", text, bom=False, encoding="cp1252"))
    assert export.main.loc[0, "Site"] == "Côte d'Ivoire"
    assert [p.rule for p in export.report] == ["encoding"]


def test_labels_export_is_flagged(tmp_path: Path) -> None:
    text = '"What is your name?";"How many people live here?";"_uuid"\n"A";"3";"u1"\n'
    export = read_kobo_csv(write(tmp_path / "l.csv", text))
    assert [p.rule for p in export.report] == ["labels_export"]


def test_too_many_rows(tmp_path: Path) -> None:
    with pytest.raises(InputTooLarge, match="more than 2 data rows"):
        read_kobo_csv(write(tmp_path / "hh.csv", KOBO_CSV), max_rows=2)


@pytest.mark.parametrize(
    ("text", "match"),
    [("", "empty"), ("a,b\n1,2,3\n", "malformed CSV")],
)
def test_broken_csv(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(UnsupportedFormat, match=match):
        read_kobo_csv(write(tmp_path / "b.csv", text, bom=False))


# -- XLSX -------------------------------------------------------------------------------------


def kobo_workbook(path: Path, *, cached: dict[str, str] | None = None) -> Path:
    """A Kobo-shaped XLSX: submissions on sheet 1, a ``members`` repeat on sheet 2.

    ``cached`` puts a cached value in formula cells (``{"B3": "3"}``), as Excel does when it
    saves; openpyxl itself never computes one.
    """
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Household survey 2021"
    ws.append(["_uuid", "grp/size", "grp/code", "note", "_index"])
    ws.append(["u1", 4, "01", "=not a formula, just text", 1])
    ws.append(["u2", "=1+2", "02", None, 2])
    ws.append([])  # a blank row: skipped, but row numbers keep counting
    ws.append(["u3", 2.5, "03", "x", 3])
    ws["D2"].data_type = "s"  # typed text: openpyxl would otherwise store it as a formula
    rep = wb.create_sheet("members")
    rep.append(
        ["members/name", "_index", "_parent_index", "_parent_table_name", "_submission__uuid"]
    )
    rep.append(["Jo", 1, 1, "Household survey 2021", "u1"])
    rep.append(["An", 2, 2, "Household survey 2021", None])  # no uuid: _parent_index used
    rep.append(["Zed", 3, 9, "Household survey 2021", "nope"])  # orphan
    buffer = io.BytesIO()
    wb.save(buffer)
    data = buffer.getvalue()
    if cached:
        data = _with_cached_values(data, cached)
    path.write_bytes(data)
    return path


def _with_cached_values(data: bytes, cached: dict[str, str]) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                xml = body.decode()
                for ref, value in cached.items():
                    xml = re.sub(
                        rf'(<c r="{ref}"[^>]*><f>[^<]*</f>)<v ?/>', rf"\1<v>{value}</v>", xml
                    )
                body = xml.encode()
            dst.writestr(info, body)
    return out.getvalue()


def test_xlsx_main_and_repeat_sheet(tmp_path: Path) -> None:
    export = read_kobo_xlsx(kobo_workbook(tmp_path / "k.xlsx"))
    main = export.main
    assert export.main_name == "Household survey 2021"
    assert export.separator is None
    assert main["_uuid"].tolist() == ["u1", "u2", "u3"]
    assert main["source_row"].tolist() == [1, 2, 4]  # the blank sheet row 4 is not data
    assert main["grp/size"].tolist() == ["4", "=1+2", "2.5"]  # formula text kept, as text
    assert main["grp/code"].tolist() == ["01", "02", "03"]
    assert main.loc[0, "note"] == "=not a formula, just text"
    assert main["_index"].tolist() == ["1", "2", "3"]  # integers written as Kobo writes them
    members = export.repeats["members"]
    assert members["source_row"].tolist() == [1, 2, 3]
    assert members["_parent_row"].tolist() == [1, 2, pd.NA]
    by_rule = {p.rule: p for p in export.report}
    assert set(by_rule) == {"formula_cell", "orphan_repeat_row"}
    assert by_rule["formula_cell"].row == 2
    assert by_rule["formula_cell"].column == "grp/size"
    assert by_rule["formula_cell"].severity == "warning"
    assert (by_rule["orphan_repeat_row"].layer, by_rule["orphan_repeat_row"].row) == (
        "members",
        3,
    )


def test_xlsx_formula_cached_value_is_used_never_evaluated(tmp_path: Path) -> None:
    path = kobo_workbook(tmp_path / "k.xlsx", cached={"B3": "3"})
    export = read_kobo_xlsx(path)
    assert export.main["grp/size"].tolist() == ["4", "3", "2.5"]
    assert [p.rule for p in export.report].count("formula_cell") == 1


def test_parent_mismatch_prefers_submission_uuid(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "main"
    ws.append(["_uuid", "_index"])
    ws.append(["u1", 1])
    ws.append(["u2", 2])
    rep = wb.create_sheet("kids")
    rep.append(["_index", "_parent_index", "_parent_table_name", "_submission__uuid"])
    rep.append([1, 1, "main", "u2"])
    path = tmp_path / "m.xlsx"
    wb.save(path)
    export = read_kobo_xlsx(path)
    assert export.repeats["kids"]["_parent_row"].tolist() == [2]
    assert [p.rule for p in export.report] == ["parent_mismatch"]


def test_xlsx_error_cells_are_missing(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["_uuid", "v"])
    ws.append(["u1", "#N/A"])
    ws["B2"].data_type = "e"
    path = tmp_path / "e.xlsx"
    wb.save(path)
    export = read_kobo_xlsx(path)
    assert export.main["v"].isna().all()
    assert [p.rule for p in export.report] == ["cell_error"]


def test_old_xls_and_non_zip_are_refused(tmp_path: Path) -> None:
    xls = tmp_path / "old.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    with pytest.raises(UnsupportedFormat, match=r"\.xls"):
        read_kobo_xlsx(xls)
    other = tmp_path / "x.xlsx"
    other.write_text("not a workbook")
    with pytest.raises(UnsupportedFormat, match=r"not an \.xlsx"):
        read_kobo_xlsx(other)


def test_external_links_are_reported_not_followed(tmp_path: Path) -> None:
    path = kobo_workbook(tmp_path / "k.xlsx")
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("xl/externalLinks/externalLink1.xml", "<externalLink/>")
    export = read_kobo_xlsx(path)
    assert "external_links" in {p.rule for p in export.report}


def test_xlsx_row_limit(tmp_path: Path) -> None:
    with pytest.raises(InputTooLarge):
        read_kobo_xlsx(kobo_workbook(tmp_path / "k.xlsx"), max_rows=2)


# -- Problem aggregation ----------------------------------------------------------------------


def test_report_rows_aggregates_values_repeated_more_than_20_times() -> None:
    report = Report()
    rows = np.arange(1, 31)
    values = ["X"] * 25 + ["Y"] * 5
    report_rows(
        report,
        layer="l",
        column="c",
        rule="r",
        severity="error",
        rows=rows,
        values=values,
        message="{value!r} is odd",
    )
    x = [p for p in report if "'X'" in p.message]
    y = [p for p in report if "'Y'" in p.message]
    assert len(x) == 1 and x[0].row is None
    assert "25 rows (first rows: 1, 2, 3" in x[0].message
    assert [p.row for p in y] == [26, 27, 28, 29, 30]


def test_report_rows_caps_single_row_problems() -> None:
    report = Report()
    rows = np.arange(1, 101)
    report_rows(
        report,
        layer="l",
        column="c",
        rule="r",
        severity="error",
        rows=rows,
        values=[str(v) for v in rows],
        message="{value!r}",
        max_listed=10,
    )
    assert len(report) == 11
    assert report.problems[-1].message.startswith("90 more rows")
