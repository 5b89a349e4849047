"""Read ODK Central / Briefcase CSV exports as text.

ODK Central's "Download all submissions" gives ``<FormId>.csv.zip`` (``submissions.csv.zip``)
holding:

- ``<FormId>.csv``: one row per submission. ``SubmissionDate`` first, then every question
  with its group path joined by ``-`` (``hh-size``), then ``meta-instanceID``, ``KEY``
  (``uuid:…``, the submission's key), ``SubmitterID``, ``SubmitterName``,
  ``AttachmentsPresent``, ``AttachmentsExpected``, ``Status``, ``ReviewState``, ``DeviceID``,
  ``Edits``, ``FormVersion``. A ``geopoint`` is split into ``<q>-Latitude``,
  ``<q>-Longitude``, ``<q>-Altitude``, ``<q>-Accuracy`` (older exports: one
  ``"lat lon alt acc"`` column); ``geotrace`` / ``geoshape`` are ``"lat lon alt acc;…"`` text;
  a ``select_multiple`` is a space-separated column, optionally split into ``<q>/<choice>``
  0/1 columns;
- ``<FormId>-<repeat>.csv`` for each repeat group: its questions, then ``PARENT_KEY`` (the
  ``KEY`` of the submission, or of the enclosing repeat instance) and ``KEY``
  (``uuid:…/<repeat>[1]``);
- ``media/`` with attachments when downloaded with media (ignored here).

The archive is unpacked only through :func:`profiling.ingest.safety.safe_extract_zip`
(path-escape, zip-bomb and member-count guards). Values are read as text exactly as
:mod:`~profiling.ingest.kobo` reads them; each repeat row gets ``_parent_row``: the
``source_row`` of the submission whose ``KEY`` starts its ``PARENT_KEY``.

References
----------
ODK Central, *Submissions: downloading*, https://docs.getodk.org/central-submissions/;
ODK Briefcase CSV export format, https://docs.getodk.org/briefcase-using/#export-forms-to-csv.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from profiling.errors import UnsupportedFormat
from profiling.ingest.kobo import (
    DEFAULT_MAX_ROWS,
    PARENT_ROW,
    SOURCE_ROW,
    FormExport,
    read_text_csv,
    report_rows,
    submission_lookup,
)
from profiling.ingest.safety import safe_extract_zip
from profiling.report import ERROR, INFO, WARNING, Report

__all__ = ["read_odk_csv", "read_odk_zip"]

GROUP_SEPARATOR = "-"
_DEFAULT_MAX_RATIO = 100
_DEFAULT_MAX_TOTAL_BYTES = 2 * 1024**3
_DEFAULT_MAX_MEMBERS = 10_000


def _attach(
    name: str, frame: pd.DataFrame, lookup: pd.Series, report: Report
) -> pd.api.extensions.ExtensionArray:
    """``_parent_row`` of each repeat row from the submission key that starts PARENT_KEY."""
    if "PARENT_KEY" not in frame:
        report.add(
            name,
            None,
            "PARENT_KEY",
            "not_a_repeat",
            WARNING,
            "this file has no PARENT_KEY column; its rows belong to no submission",
        )
        return pd.array([pd.NA] * len(frame), dtype="Int64")
    root = frame["PARENT_KEY"].str.split("/", n=1).str[0]
    parent = root.map(lookup).astype("Int64")
    orphans = parent.isna().to_numpy()
    if orphans.any():
        report_rows(
            report,
            layer=name,
            column="PARENT_KEY",
            rule="orphan_repeat_row",
            severity=ERROR,
            rows=frame.loc[orphans, SOURCE_ROW].to_numpy(),
            values=None,
            message="this repeat row's PARENT_KEY matches no submission KEY of the main file",
        )
    return parent.array


def _pick_main(tables: dict[str, pd.DataFrame], where: str) -> str:
    mains = [n for n, t in tables.items() if "KEY" in t and "PARENT_KEY" not in t]
    if len(mains) == 1:
        return mains[0]
    if not mains:
        raise UnsupportedFormat(
            f"{where}: no submissions CSV (a file with a KEY column and no PARENT_KEY); is "
            "this an ODK Central 'submissions.csv.zip'?"
        )
    raise UnsupportedFormat(
        f"{where}: several submissions CSVs ({', '.join(sorted(mains))}); export one form at a time"
    )


def _export(
    tables: dict[str, pd.DataFrame], main_name: str, report: Report, separator: str | None
) -> FormExport:
    main = tables.pop(main_name)
    lookup = submission_lookup(main, "KEY", report, main_name, rule="duplicate_key")
    repeats: dict[str, pd.DataFrame] = {}
    for name, frame in tables.items():
        repeat = name[len(main_name) + 1 :] if name.startswith(main_name + "-") else name
        frame[PARENT_ROW] = _attach(repeat, frame, lookup, report)
        repeats[repeat] = frame
    report.facts.update({"rows": len(main), "tables": [main_name, *repeats]})
    return FormExport(
        main=main,
        repeats=repeats,
        separator=separator,
        group_separator=GROUP_SEPARATOR,
        report=report,
        source="odk",
        main_name=main_name,
    )


def read_odk_zip(
    path: Path | str,
    work_dir: Path | str,
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_ratio: int = _DEFAULT_MAX_RATIO,
    max_total_bytes: int = _DEFAULT_MAX_TOTAL_BYTES,
    max_members: int = _DEFAULT_MAX_MEMBERS,
) -> FormExport:
    """Read an ODK Central ``submissions.csv.zip``: the main CSV and one CSV per repeat.

    Parameters
    ----------
    path : path-like
        The zip as downloaded.
    work_dir : path-like
        A private scratch folder; the archive is extracted into ``work_dir/odk_export``.
    max_rows : int
        Cap on data rows per CSV.
    max_ratio, max_total_bytes, max_members : int
        Zip-bomb guards passed to :func:`~profiling.ingest.safety.safe_extract_zip`.

    Returns
    -------
    FormExport
        ``main`` (the CSV with ``KEY`` and no ``PARENT_KEY``), ``repeats`` keyed by repeat
        name (the file name after ``<FormId>-``), each with ``_parent_row``;
        ``group_separator`` is ``-``.

    Raises
    ------
    UnsafeInput, InputTooLarge, UnsupportedFormat
        From the safe extraction, or when no submissions CSV is found.
    """
    path, work_dir = Path(path), Path(work_dir)
    dest = work_dir / "odk_export"
    extracted = safe_extract_zip(
        path,
        dest,
        max_ratio=max_ratio,
        max_total_bytes=max_total_bytes,
        max_members=max_members,
    )
    report = Report()
    csvs: list[Path] = []
    skipped = 0
    for file in extracted:
        rel = Path(file).relative_to(dest)
        if rel.suffix.lower() == ".csv" and rel.parts[0] != "media" and len(rel.parts) == 1:
            csvs.append(Path(file))
        else:
            skipped += 1
    if skipped:
        report.add(
            path.name,
            None,
            None,
            "ignored_member",
            INFO,
            f"{skipped} file(s) in the archive besides the top-level CSVs (media...) are not read",
        )
    if not csvs:
        raise UnsupportedFormat(f"{path.name}: the archive holds no CSV file")
    tables: dict[str, pd.DataFrame] = {}
    separator: str | None = None
    for csv_path in sorted(csvs):
        frame, sep, _ = read_text_csv(
            csv_path, max_rows=max_rows, report=report, layer=csv_path.stem
        )
        tables[csv_path.stem] = frame
        separator = separator or sep
    main_name = _pick_main(tables, path.name)
    return _export(tables, main_name, report, separator)


def read_odk_csv(path: Path | str, *, max_rows: int = DEFAULT_MAX_ROWS) -> FormExport:
    """Read one ODK CSV (the main file of a Central or Briefcase export) without repeats.

    Parameters
    ----------
    path : path-like
        The CSV.
    max_rows : int
        Cap on data rows.

    Returns
    -------
    FormExport
        ``main`` only; ``group_separator`` is ``-``.
    """
    path = Path(path)
    report = Report()
    frame, sep, _ = read_text_csv(path, max_rows=max_rows, report=report, layer=path.stem)
    report.facts.update({"rows": len(frame), "separator": sep})
    return FormExport(
        main=frame,
        repeats={},
        separator=sep,
        group_separator=GROUP_SEPARATOR,
        report=report,
        source="odk",
        main_name=path.stem,
    )
