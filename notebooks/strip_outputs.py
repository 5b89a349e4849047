"""Strip the outputs of the notebooks before committing them (no git filter, no pre-commit).

Usage::

    .venv/bin/python notebooks/strip_outputs.py           # strip every notebook here
    .venv/bin/python notebooks/strip_outputs.py --check   # exit 1 if one has outputs

Clears every code cell's outputs and execution count, the per-cell execution metadata that
Jupyter records (``execution``, ``collapsed``, ``scrolled``) and the notebook metadata other
than the kernel and the language name, so that a notebook's file changes only when its
cells do. ``tests/test_notebooks.py`` fails when a committed notebook has outputs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
CELL_METADATA_DROPPED = ("execution", "collapsed", "scrolled", "ExecuteTime")
"""Cell metadata keys written by Jupyter when a cell runs or is viewed."""


def strip(notebook: nbformat.NotebookNode) -> bool:
    """Strip ``notebook`` in place.

    Parameters
    ----------
    notebook : nbformat.NotebookNode

    Returns
    -------
    bool
        Whether anything was removed.
    """
    changed = False
    for cell in notebook.cells:
        for key in CELL_METADATA_DROPPED:
            if key in cell.metadata:
                del cell.metadata[key]
                changed = True
        if cell.cell_type != "code":
            continue
        if cell.outputs or cell.execution_count is not None:
            cell.outputs = []
            cell.execution_count = None
            changed = True
    language = notebook.metadata.get("language_info", {}).get("name", "python")
    metadata = {
        "kernelspec": notebook.metadata.get(
            "kernelspec",
            {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        ),
        "language_info": {"name": language},
    }
    if dict(notebook.metadata) != metadata:
        notebook.metadata = nbformat.from_dict(metadata)
        changed = True
    return changed


def main(argv: list[str] | None = None) -> int:
    """Strip (or with ``--check`` only check) the notebooks given, default all here.

    Returns
    -------
    int
        0, or 1 with ``--check`` when a notebook has outputs.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: all here)")
    parser.add_argument("--check", action="store_true", help="report, do not write")
    args = parser.parse_args(argv)
    paths = args.paths or sorted(HERE.glob("*.ipynb"))
    dirty = []
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        if not strip(notebook):
            continue
        dirty.append(path)
        if not args.check:
            nbformat.write(notebook, path)
    for path in dirty:
        print(f"{'has outputs' if args.check else 'stripped'}: {path}")
    return 1 if args.check and dirty else 0


if __name__ == "__main__":
    sys.exit(main())
