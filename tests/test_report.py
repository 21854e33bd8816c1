"""The HTML report: every figure embedded, the claims table, verdicts computed from the data."""

import base64
import html
import re
import sys
import types

import numpy as np
import pytest

from sumjax import experiments
from sumjax.experiments import _io, get, run_experiment
from sumjax.experiments._base import FAILS, config_from
from sumjax.report import build_report, collect_claims

# The two quickest experiments; every other figure goes through the same code path.
NAMES = ["simplex_penalty", "required_divergence"]
SMALL = {
    "simplex_penalty": {},  # default size: the same compiled program as the CLI test
    "required_divergence": dict(c_stars=(0.5,), d_max=1e3, n_dims=12),
}


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("report"))
    for name in NAMES:
        module = get(name)
        meta = run_experiment(module, config_from(module, **SMALL[name]), out, progress=False)
        assert meta["status"] == "complete"
    return out


def test_report_has_every_figure_and_claim(out_dir):
    path = build_report(out_dir, NAMES)
    text = open(path, encoding="utf-8").read()
    pngs = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", text)
    assert len(pngs) == len(NAMES)
    for blob in pngs:
        assert base64.b64decode(blob)[:8] == b"\x89PNG\r\n\x1a\n"
    for name in NAMES:
        assert f"id='{name}'" in text
    claims, metas = collect_claims(out_dir, NAMES)
    assert len(claims) >= 5
    for _, claim in claims:
        assert html.escape(claim.claim) in text and html.escape(claim.measured) in text
    assert text.count("<tr>") == len(claims) + 1  # header + one row per claim


def test_verdicts_are_computed_from_the_data(out_dir, tmp_path):
    # Tamper with the stored measurement: the verdict must follow the data, not a fixed string.
    import shutil

    work = str(tmp_path / "copy")
    shutil.copytree(out_dir, work)
    npz = f"{work}/simplex_penalty/simplex_penalty.npz"
    data = _io.load_npz(npz)
    data["at_ut_info_penalty"] = np.asarray(0.5)
    data["min_gap"] = data["min_gap"] - 0.25
    _io.save_npz(npz, data)
    # Changed behind the runner's back: the checksum no longer matches, so no verdict at all.
    claims, metas = collect_claims(work, ["simplex_penalty"])
    assert claims == [] and metas["simplex_penalty"]["status"] == "damaged"
    assert "simplex_penalty.npz" in metas["simplex_penalty"]["reason"]
    # Recorded as written (the checksum updated): the verdicts follow the new data.
    meta_path = f"{work}/simplex_penalty/simplex_penalty.json"
    meta = _io.load_json(meta_path)
    meta["checksums"]["simplex_penalty.npz"] = _io.file_digest(npz)
    _io.save_json(meta_path, meta)
    claims = dict((c.claim, c) for n, c in collect_claims(work, ["simplex_penalty"])[0])
    penalty = next(c for k, c in claims.items() if k.startswith("Penalty 0"))
    convex = next(c for k, c in claims.items() if k.startswith("f_t is convex"))
    assert penalty.verdict == FAILS and "0.5" in penalty.measured
    assert convex.verdict == FAILS and "-0.25" in convex.measured


def test_unavailable_experiment_is_reported_plainly(tmp_path, monkeypatch):
    fake = types.ModuleType("sumjax_fake_experiment")
    fake.NAME, fake.TITLE, fake.SOURCE, fake.CAPTION = "fake", "A figure that cannot run yet", "SUM", ""

    class Config:
        pass

    import dataclasses

    fake.Config = dataclasses.dataclass(frozen=True)(Config)

    def requires():
        experiments._base.require("sumjax.alignment", "a_function_nobody_wrote")

    fake.requires = requires
    monkeypatch.setitem(sys.modules, "sumjax_fake_experiment", fake)
    monkeypatch.setitem(experiments.EXPERIMENTS, "fake", "sumjax_fake_experiment")
    meta = run_experiment(fake, None, str(tmp_path), progress=False)
    assert meta["status"] == "unavailable" and "a_function_nobody_wrote" in meta["reason"]
    text = open(build_report(str(tmp_path), ["fake"]), encoding="utf-8").read()
    assert "Not available" in text and "a_function_nobody_wrote" in text
    assert "data:image/png" not in text
