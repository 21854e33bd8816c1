"""The notebooks execute top to bottom (small sizes via SUMJAX_NOTEBOOK_SMALL=1, kernel python3)."""

import os
import pathlib
import time

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_notebooks_are_committed_without_outputs():
    names = {p.stem[:2] for p in NOTEBOOKS}
    assert {"01", "02", "03"} <= names, names
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        for cell in book.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name} is committed with outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("SUMJAX_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    book = nbformat.read(path, as_version=4)
    client = NotebookClient(book, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    print(f"{path.name}: executed in {time.perf_counter() - start:.1f} s")
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    # every figure drawn reached the output (a plot that silently fails to render would not)
    n_figures = sum("plt.show()" in c.source for c in book.cells if c.cell_type == "code")
    n_images = sum("image/png" in o.get("data", {}) for c in book.cells if c.cell_type == "code" for o in c.outputs)
    assert n_images >= n_figures, (n_images, n_figures)
    assert os.environ["SUMJAX_NOTEBOOK_SMALL"] == "1"
