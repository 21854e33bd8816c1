"""The offline HTML report of `sumjax reproduce`: every figure and a table of claims.

Verdicts are computed by each experiment's `claims(data, cfg)` from the data files on
disk, never written by hand; an experiment that did not run (a missing dependency, a
failure) is listed as such with the reason, and contributes no verdicts. The report is
built from every experiment found in the folder, so `reproduce --only X` into a full
folder keeps the other rows; only outputs whose checksums match what was written are
used (a damaged file is named, and its experiment shows no figure and no verdicts).
"""

from __future__ import annotations

import base64
import html
import os

from .experiments import EXPERIMENTS, get
from .experiments._base import CAVEAT, FAILS, HOLDS, Claim, config_from_meta, load_outputs
from .experiments._io import atomic_write_text, utc_now

__all__ = ["collect_claims", "build_report", "experiments_in", "NoResults"]


class NoResults(ValueError):
    """The folder holds no experiment outputs (a typo in --out?)."""


def experiments_in(out_root: str) -> list[str]:
    """Registered experiments with a record (finished or not) in `out_root`, in report order.

    Args:
        out_root: the output folder of `sumjax reproduce` (one subfolder per experiment).

    Returns:
        A list of experiment names, in report order.
    """
    return [n for n in EXPERIMENTS if os.path.isfile(os.path.join(out_root, n, f"{n}.json"))]

_VERDICT_CLASS = {HOLDS: "holds", FAILS: "fails", CAVEAT: "caveat"}


def collect_claims(out_root: str, names=None) -> tuple[list[tuple[str, Claim]], dict]:
    """Claims of every finished, verified experiment in `out_root` as (experiment, Claim) pairs,
    and each experiment's metadata (None when it never ran). `names` defaults to every
    experiment with a record in the folder.

    Args:
        out_root: the output folder of `sumjax reproduce` (one subfolder per experiment).
        names: experiment names to include, in report order; None (default) is every experiment with
            a record in `out_root`.

    Returns:
        A pair (claims, meta): a list of (experiment name, `Claim`) and a dict experiment name →
        its metadata dict (None when it never ran).
    """
    names = experiments_in(out_root) if names is None else list(names)
    claims, metas = [], {}
    for name in names:
        meta, data = load_outputs(out_root, name)
        metas[name] = meta
        if data is None:
            continue
        module = get(name)
        try:
            for claim in module.claims(data, config_from_meta(module, meta)):
                claims.append((name, claim))
        except Exception as exc:  # a broken claim check must show up, not vanish
            metas[name] = {**meta, "status": "failed", "reason": f"claims check raised {type(exc).__name__}: {exc}"}
    return claims, metas


def _embed_png(path: str) -> str | None:
    """The PNG as a data URI, or None when it cannot be read or is not a whole PNG."""
    try:
        with open(path, "rb") as fh:
            blob = fh.read()
    except OSError:
        return None
    if not (blob.startswith(b"\x89PNG\r\n\x1a\n") and blob.endswith(b"IEND\xaeB`\x82")):
        return None
    return "data:image/png;base64," + base64.b64encode(blob).decode("ascii")


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;width:100%;font-size:0.92em}
th,td{border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left}
th{background:#f2f2f2}
td.holds{background:#e3f5e1}td.fails{background:#fbe0e0}td.caveat{background:#fff4d6}
.missing{background:#fbe0e0;padding:6px}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}
code,pre{background:#f6f6f6}pre{padding:6px;overflow-x:auto;font-size:0.85em}
"""


def build_report(out_root: str, names=None, *, title: str = "sumjax reproduce", command: str | None = None,
                 total_wall_s: float | None = None) -> str:
    """Write `out_root/report.html` (figures embedded as base64 PNG) and return its path.

    `names` defaults to every experiment with a record in `out_root`; raises `NoResults`
    when there is none (nothing is written then).

    Args:
        out_root: the output folder of `sumjax reproduce` (one subfolder per experiment).
        names: experiment names to include, in report order; None (default) is every experiment with
            a record in `out_root`.
        title: the page title (default ``"sumjax reproduce"``).
        command: the command line shown in the report; None (default) omits it.
        total_wall_s: total wall time in seconds shown in the report; None (default) omits it.

    Returns:
        The path of the written ``report.html`` (a str).

    Raises:
        NoResults: when `out_root` holds no experiment record (nothing is written).
    """
    if names is None:
        names = experiments_in(out_root)
        if not names:
            raise NoResults(f"no experiment results in {out_root!r} (run `sumjax reproduce --out {out_root}` first)")
    claims, metas = collect_claims(out_root, names)
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{esc(title)}</h1>"]
    parts.append(f"<p>Generated {esc(utc_now())}.")
    if command:
        parts.append(f" Command: <code>{esc(command)}</code>.")
    if total_wall_s is not None:
        parts.append(f" Total wall time {total_wall_s:.1f} s.")
    parts.append("</p>")
    env = next((m.get("environment") for m in metas.values() if m and m.get("environment")), None)
    if env:
        parts.append("<p>Environment: " + esc(", ".join(f"{k}={v}" for k, v in sorted(env.items()))) + "</p>")
    parts.append(
        "<p>Parts of the SUM model are <em>reconstructed</em> (the captured text lost its formulas); see the "
        "reconstructed choices in docs/model.md. "
        "Every verdict below is computed from the experiment data files in this folder.</p>"
    )

    counts = {v: sum(1 for _, c in claims if c.verdict == v) for v in (HOLDS, CAVEAT, FAILS)}
    parts.append("<h2 id='claims'>Claims</h2>")
    parts.append("<p>" + ", ".join(f"{n} {esc(v)}" for v, n in counts.items()) + ".</p>")
    parts.append("<table><tr><th>Text</th><th>Claim</th><th>Measured</th><th>Verdict</th><th>Experiment</th></tr>")
    for name, c in claims:
        note = f"<br><small>{esc(c.note)}</small>" if c.note else ""
        parts.append(
            f"<tr><td>{esc(c.source)}</td><td>{esc(c.claim)}</td><td>{esc(c.measured)}{note}</td>"
            f"<td class='{_VERDICT_CLASS[c.verdict]}'>{esc(c.verdict)}</td><td><a href='#{esc(name)}'>{esc(name)}</a></td></tr>"
        )
    parts.append("</table>")
    not_run = [n for n, m in metas.items() if not m or m.get("status") != "complete"]
    absent = [n for n in EXPERIMENTS if n not in metas]
    if absent:
        parts.append("<p>Not run in this folder: " + ", ".join(esc(n) for n in absent) + ".</p>")
    if not_run:
        parts.append("<p class='missing'>Not available in this run (no figure, no verdicts): "
                     + ", ".join(f"<a href='#{esc(n)}'>{esc(n)}</a>" for n in not_run) + ".</p>")

    parts.append("<h2>Figures</h2>")
    for name, meta in metas.items():
        module = get(name)
        parts.append(f"<h3 id='{esc(name)}'>{esc(module.TITLE)} <small>({esc(name)}, {esc(module.SOURCE)})</small></h3>")
        if not meta or meta.get("status") != "complete":
            status = "not run" if not meta else meta.get("status", "unknown")
            reason = "" if not meta else meta.get("reason", "")
            parts.append(f"<p class='missing'>Not available: {esc(status)}. {esc(reason)}</p>")
            continue
        folder = os.path.join(out_root, name)
        uri = _embed_png(os.path.join(folder, f"{name}.png"))
        if uri is None:
            parts.append(f"<p class='missing'>Figure {esc(name)}.png cannot be read; rerun to recompute it.</p>")
        else:
            parts.append(f"<figure><img alt='{esc(module.TITLE)}' src='{uri}'>"
                         f"<figcaption>{esc(module.CAPTION)}</figcaption></figure>")
        links = " · ".join(f"<a href='{esc(name)}/{esc(f)}'>{esc(f)}</a>" for f in meta.get("files", []))
        parts.append(
            f"<p><small>Files: {links}. {esc(meta.get('sizes', ''))} sizes, seed {meta['seed']}, {esc(meta['dtype'])}, compute {meta['wall_compute_s']} s, "
            f"outputs {meta['wall_outputs_s']} s, finished {esc(meta.get('finished', ''))}.</small></p>"
            f"<pre>{esc(str(meta['config']))}</pre>"
        )
    parts.append("</body></html>\n")
    path = os.path.join(out_root, "report.html")
    atomic_write_text(path, "".join(parts))
    return path

