"""Validation problems and the report that collects them.

Readers and validators *collect* problems (osmnx ``_validate`` style) and hand back one
:class:`Report`; callers decide whether errors stop the upload.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Literal

__all__ = ["ERROR", "INFO", "WARNING", "Problem", "Report"]

Severity = Literal["error", "warning", "info"]
ERROR: Severity = "error"
WARNING: Severity = "warning"
INFO: Severity = "info"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong (or repaired) in an upload.

    Attributes
    ----------
    layer : str
        Canonical layer (``households``) or source layer / sheet name.
    row : int or None
        1-based data row in the source (header excluded), ``None`` for file-level problems.
    column : str or None
        Source column name when known, else the canonical field.
    rule : str
        Stable machine id of the rule, e.g. ``required``, ``unknown_code``, ``invalid_geometry``.
    severity : {"error", "warning", "info"}
        ``error`` blocks storing the upload; ``warning`` and ``info`` are reported only.
    message : str
        Human-readable sentence saying what is wrong and, where useful, what was done.
    row_count : int or None
        For one problem standing for many rows (same rule, same value, aggregated so a
        million-row report stays readable): how many rows. ``None`` for single-row problems
        and for file-level ones.
    """

    layer: str
    row: int | None
    column: str | None
    rule: str
    severity: Severity
    message: str
    row_count: int | None = None
    rows: tuple[int, ...] = field(default=(), repr=False, compare=False)
    """Every row an aggregated problem stands for (not serialised: counts are)."""

    @property
    def file_level(self) -> bool:
        """True when the problem is about the file or a column, not identified rows."""
        return self.row is None and self.row_count is None

    def __str__(self) -> str:
        where = self.layer
        if self.row is not None:
            where += f" row {self.row}"
        if self.column:
            where += f" column {self.column!r}"
        return f"{self.severity.upper():7} {where}: [{self.rule}] {self.message}"


@dataclass
class Report:
    """An ordered collection of :class:`Problem` with text and JSON renderings."""

    problems: list[Problem] = field(default_factory=list)
    facts: dict[str, object] = field(default_factory=dict)
    invalid_rows: dict[str, set[int]] = field(default_factory=dict)
    """Source rows with at least one error, per layer name used in the problems. Kept even
    when problems are aggregated (one problem for many rows), so rows can be set aside."""

    def __post_init__(self) -> None:
        given, self.problems = self.problems, []
        for problem in given:
            self._append(problem)

    def add(
        self,
        layer: str,
        row: int | None,
        column: str | None,
        rule: str,
        severity: Severity,
        message: str,
        *,
        rows: Iterable[int] | None = None,
    ) -> None:
        """Append one problem; an error marks its row (or its ``rows``) invalid.

        ``rows`` makes one aggregated problem stand for many rows (``row`` is then ``None``).
        """
        listed = () if rows is None else tuple(sorted({int(r) for r in rows}))
        count = None if rows is None else len(listed)
        self._append(Problem(layer, row, column, rule, severity, message, count, listed))

    def _append(self, problem: Problem) -> None:
        if problem.severity == ERROR:
            if problem.rows:
                self.invalid_rows.setdefault(problem.layer, set()).update(problem.rows)
            elif problem.row is not None:
                self.invalid_rows.setdefault(problem.layer, set()).add(problem.row)
        self.problems.append(problem)

    @property
    def has_file_errors(self) -> bool:
        """True when an error concerns the whole file or a column rather than rows."""
        return any(p.severity == ERROR and p.file_level for p in self.problems)

    def extend(self, problems: Iterable[Problem] | Report) -> None:
        """Append many problems (or another report's problems and facts)."""
        if isinstance(problems, Report):
            self.facts.update(problems.facts)
            for layer, rows in problems.invalid_rows.items():
                self.invalid_rows.setdefault(layer, set()).update(rows)
            problems = problems.problems
        for problem in problems:
            self._append(problem)

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.problems)

    def __len__(self) -> int:
        return len(self.problems)

    @property
    def errors(self) -> list[Problem]:
        """Problems of severity ``error``."""
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def has_errors(self) -> bool:
        """True when at least one problem blocks storing."""
        return any(p.severity == ERROR for p in self.problems)

    def by_rule(self) -> Counter[tuple[str, str]]:
        """Count problems by ``(severity, rule)``."""
        return Counter((p.severity, p.rule) for p in self.problems)

    def summary(self) -> str:
        """One line: counts of errors, warnings and infos."""
        c = Counter(p.severity for p in self.problems)
        return f"{c[ERROR]} error(s), {c[WARNING]} warning(s), {c[INFO]} info"

    def to_dict(self, *, limit: int | None = None) -> dict[str, object]:
        """Plain-data form; ``limit`` caps the listed problems (counts stay exact)."""
        listed = self.problems if limit is None else self.problems[:limit]
        return {
            "summary": self.summary(),
            "valid": not self.has_errors,
            "counts": {f"{s}:{r}": n for (s, r), n in sorted(self.by_rule().items())},
            "facts": self.facts,
            "problems": [{k: v for k, v in asdict(p).items() if k != "rows"} for p in listed],
            "truncated": len(listed) < len(self.problems),
        }

    def to_json(self, *, limit: int | None = None) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(limit=limit), ensure_ascii=False, indent=2, default=str)

    def to_text(self, *, limit: int | None = 200) -> str:
        """Human-readable report: summary, counts per rule, then each problem."""
        lines = [self.summary()]
        for key, value in self.facts.items():
            lines.append(f"  {key}: {value}")
        for (severity, rule), n in sorted(self.by_rule().items()):
            lines.append(f"  {n:>7} {severity} {rule}")
        order = {ERROR: 0, WARNING: 1, INFO: 2}
        ranked = sorted(self.problems, key=lambda p: order[p.severity])
        shown = ranked if limit is None else ranked[:limit]
        lines.extend(str(p) for p in shown)
        if len(shown) < len(self.problems):
            lines.append(f"... and {len(self.problems) - len(shown)} more (see the JSON report)")
        return "\n".join(lines)
