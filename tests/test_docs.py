"""The documentation: the site builds in strict mode, every public module has an API page, citations of
docs/model.md point at sections that exist, and the accuracy ranges of docs/accuracy.md agree with the
README's and are covered by the docstrings' claims."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


# ---------------------------------------------------------------- the site


def test_site_builds_strict(tmp_path):
    """`mkdocs build --strict` fails on broken links, anchors, missing pages and docstring warnings.
    Notebook execution is skipped here (SUMJAX_DOCS_EXECUTE=false; tests/test_notebooks.py runs them)."""
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None:
        pytest.fail('the docs tools are missing: pip install -e ".[docs]"')
    env = dict(os.environ, SUMJAX_DOCS_EXECUTE="false", NO_MKDOCS_2_WARNING="1", JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    site = tmp_path / "site"
    # the model page keeps its stable anchors, and every API page rendered its module's members
    model = (site / "model" / "index.html").read_text(encoding="utf-8")
    for anchor in ("sum-core", "tilt", "harm", "scale-free", "information", "fragility", "scenarios", "scaling", "lottery"):
        assert f'id="{anchor}"' in model, anchor
    for page in (DOCS / "api").rglob("*.md"):
        html = site / page.relative_to(DOCS).with_suffix("") / "index.html"
        assert 'class="doc doc-' in html.read_text(encoding="utf-8"), f"{page} rendered no API entries"
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert (site / "notebooks" / nb.stem / "index.html").exists(), f"{nb.name} is not on the site"
    print(f"mkdocs build --strict (no notebook execution): {elapsed:.1f} s")


# ---------------------------------------------------------------- API coverage


def _public_modules():
    """sumjax's public modules: every non-underscore module and subpackage, except the CLI and the
    experiment modules (the experiments page lists those from `EXPERIMENTS` itself)."""
    out = []
    for path in (ROOT / "sumjax").rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(p.startswith("_") for p in parts) or parts[-1] in ("cli",):
            continue
        if len(parts) == 3 and parts[1] == "experiments":
            continue
        if len(parts) == 1:  # the top-level package: its names live in the core modules' pages
            continue
        if (path.parent / "__init__.py").exists() and parts[-1] in ("alignment", "guarded"):
            continue  # subpackage namespaces re-export their modules, each of which has a page
        out.append(".".join(parts))
    return sorted(out)


def test_every_public_module_has_an_api_page():
    directives = set()
    for page in (DOCS / "api").rglob("*.md"):
        directives |= set(re.findall(r"^::: *([\w.]+)", page.read_text(encoding="utf-8"), flags=re.M))
    modules = _public_modules()
    assert "sumjax.alignment.vmf" in modules and "sumjax.guarded.learning" in modules
    missing = [m for m in modules if m not in directives]
    assert not missing, f"no API page for {missing}: add docs/api/<module>.md with '::: <module>' and a nav entry"
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in (DOCS / "api").rglob("*.md"):
        assert str(page.relative_to(DOCS)) in nav, f"{page} is not in the nav of mkdocs.yml"


# ---------------------------------------------------------------- citations of the model


def _model_sections():
    text = (DOCS / "model.md").read_text(encoding="utf-8")
    return set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?) ", text, flags=re.M))


_CITE = re.compile(r"model\.md,? §(\d+(?:\.\d+)?)(?:\s*[–-]\s*§?(\d+(?:\.\d+)?))?")


def test_model_sections_are_numbered_and_citations_resolve():
    sections = _model_sections()
    assert {"1", "1.2", "2", "2.5", "2.6", "2.7", "2.10", "2.11", "3", "4", "4.6"} <= sections
    cited = []
    for folder in ("sumjax", "tests", "notebooks", "docs", "experiments"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".md", ".ipynb") and path.is_file():
                for m in _CITE.finditer(path.read_text(encoding="utf-8")):
                    cited += [(path.name, s) for s in m.groups() if s]
    for m in _CITE.finditer((ROOT / "README.md").read_text(encoding="utf-8")):
        cited += [("README.md", s) for s in m.groups() if s]
    bad = [(f, s) for f, s in cited if s not in sections]
    assert not bad, f"citations of docs/model.md sections that do not exist: {bad}"


def test_docs_and_notebooks_do_not_cite_the_brief():
    """The brief (SPEC) is not in the repository; documentation cites docs/model.md instead."""
    paths = [*DOCS.rglob("*.md"), *(ROOT / "notebooks").glob("*.ipynb"), ROOT / "mkdocs.yml", *ROOT.glob("*.md"),
             *ROOT.glob("*.txt"),
             *(ROOT / "sumjax").rglob("*.py"), *(ROOT / "tests").rglob("*.py"), *(ROOT / "experiments").rglob("*.py")]
    needle = "SPEC" + " §"  # split so that this file does not match itself
    offenders = [str(p.relative_to(ROOT)) for p in paths if needle in p.read_text(encoding="utf-8")]
    assert not offenders, offenders


# ---------------------------------------------------------------- accuracy ranges

_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
_INTERVAL = re.compile(r"(\S+) ∈ \[([^,\]]+), ([^\]]+)\]")


def _number(text: str) -> float:
    text = text.strip()
    m = re.fullmatch(r"10([⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+)", text)
    if m:
        return 10.0 ** int(m.group(1).translate(_SUPERSCRIPT))
    m = re.fullmatch(r"(\d+(?:\.\d+)?)·10([⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+)", text)
    if m:
        return float(m.group(1)) * 10.0 ** int(m.group(2).translate(_SUPERSCRIPT))
    return float(text)


def _intervals(text: str) -> dict[str, tuple[float, float]]:
    out = {}
    for var, lo, hi in _INTERVAL.findall(text):
        try:
            out[var] = (_number(lo), _number(hi))
        except ValueError:  # a symbolic bound (e.g. KL_max − 0.006): not a number to compare
            continue
    return out


def _table_ranges(text: str) -> dict[frozenset, dict]:
    """{names in the first cell: intervals of the second cell} for every Markdown table row."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else []
        if len(cells) >= 3:
            names = frozenset(re.findall(r"`([\w.]+)`", cells[0]))
            if names and _intervals(cells[1]):
                rows[names] = _intervals(cells[1])
    return rows


def test_accuracy_ranges_agree_with_readme():
    docs = _table_ranges((DOCS / "accuracy.md").read_text(encoding="utf-8"))
    readme = _table_ranges((ROOT / "README.md").read_text(encoding="utf-8"))
    vmf = frozenset({"vmf_mean", "vmf_mean_complement", "vmf_log_mgf", "vmf_kl"})
    assert vmf in docs and frozenset({"total_harm"}) in docs
    assert docs[vmf]["d"] == (2.0, 1e6) and docs[vmf]["κ"] == (0.0, 1e7)
    shared = [k for k in readme if k in docs]
    assert vmf in shared and frozenset({"total_harm"}) in shared, "the README's accuracy table lost its rows"
    for names in shared:
        assert docs[names] == readme[names], (sorted(names), docs[names], readme[names])


def test_docstring_claims_cover_the_tested_ranges():
    """The vMF module's stated range must contain the tested one (it may claim more, measured
    beyond the tests; docs/accuracy.md states the tested range)."""
    import sumjax.alignment.vmf as vmf_module

    claimed = _intervals(vmf_module.__doc__.replace("\n", " "))
    tested = _table_ranges((DOCS / "accuracy.md").read_text(encoding="utf-8"))[
        frozenset({"vmf_mean", "vmf_mean_complement", "vmf_log_mgf", "vmf_kl"})
    ]
    for var in ("d", "κ"):
        assert claimed[var][0] <= tested[var][0] and claimed[var][1] >= tested[var][1], (var, claimed, tested)
