"""The walkthrough notebook: committed without outputs, and it runs from top to bottom.

The notebook is executed with nbclient on the ``python3`` kernel. ipykernel's kernel spec in
the virtual environment starts ``python``, which jupyter_client replaces with the interpreter
running the tests, so the kernel imports this checkout's packages. It builds its own demo
city in a temporary folder; the kernel's working directory is a temporary folder too.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
WALKTHROUGH = NOTEBOOKS / "walkthrough.ipynb"
STRIP = ".venv/bin/python notebooks/strip_outputs.py"


def _code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def _text(cell: nbformat.NotebookNode) -> str:
    """Everything a cell printed or displayed as text."""
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in {"execute_result", "display_data"}:
            parts.append(output.data.get("text/plain", ""))
    return "\n".join(parts)


def _cell(notebook: nbformat.NotebookNode, marker: str) -> nbformat.NotebookNode:
    """The one code cell whose source contains ``marker``."""
    (found,) = [cell for cell in _code_cells(notebook) if marker in cell.source]
    return found


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_committed_notebooks_have_no_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    dirty = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"cells {dirty} of {path.name} have outputs: run {STRIP}"
    assert set(notebook.metadata) <= {"kernelspec", "language_info"}, f"run {STRIP}"
    assert notebook.metadata["kernelspec"]["name"] == "python3"


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    from nbclient import NotebookClient  # noqa: PLC0415  (heavy, only when executing)

    notebook = nbformat.read(WALKTHROUGH, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable)"))
    workdir = tmp_path_factory.mktemp("walkthrough")
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on an error
    return notebook


def test_walkthrough_runs_in_this_environment(executed):
    outputs = [o for c in _code_cells(executed) for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    warned = [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    assert not warned, warned  # warnings (deprecations...) print to stderr in a kernel
    assert _text(executed.cells[-1]).strip() == sys.executable


def test_walkthrough_builds_the_city_and_runs_the_analyses(executed):
    ingested = _text(_cell(executed, "run_demo("))
    assert "households_kobo.csv" in ingested and "households" in ingested
    assert "StreetNetwork(" in _text(_cell(executed, "StreetNetwork.from_lines"))
    assert "water_point_network_m" in _text(_cell(executed, "network=network)"))
    exposure = _text(_cell(executed, "structure_hazard_class("))
    assert "high" in exposure and "Mtoni" in exposure
    deprivation = _text(_cell(executed, "deprivations("))
    assert "slum_population_share" in deprivation and "Mwembe Tatu" in deprivation


def test_walkthrough_indicator_table_has_rows(executed):
    text = _text(_cell(executed, "indicator_table("))
    rows = re.search(r"(\d+) rows; not computed: (.*)", text)
    assert rows is not None and int(rows.group(1)) > 50
    assert rows.group(2) == "none"
    for indicator in ("sdg_11_1_1_slum_population", "sdg_6_1_1_basic_water", "people_count"):
        assert indicator in text
    per_settlement = _text(_cell(executed, "pivot = latest.pivot("))
    assert "Soko Mpya" in per_settlement and "sdg_1_4_2_documented_adults" in per_settlement


def test_walkthrough_map_and_api(executed):
    cell = _cell(executed, "city_map(")
    assert "Mto Mji:" in _text(cell)
    (shown,) = [o for o in cell.outputs if o.output_type == "execute_result"]
    page = shown.data["text/html"]
    assert "<iframe srcdoc=" in page and "leaflet" in page.lower()
    api = _text(_cell(executed, "/cities/Mto Mji/indicators"))
    assert "'status': 'ok'" in api and "8 settlements served as GeoJSON" in api
    assert "settlement_id=mtoni" in api
    keyed = _text(_cell(executed, "create_key(Role.planner"))
    assert "public: 401" in keyed and "planner: 200" in keyed
