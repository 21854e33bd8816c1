"""The README's claims section is the computed claims table, never prose written beside it."""

from __future__ import annotations

import os
import re

import pytest

from sumjax.experiments import EXPERIMENTS
from sumjax.experiments._base import CAVEAT, FAILS, HOLDS, Claim
from sumjax.report import README_END, README_START, claims_markdown, update_readme

_README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def _section(text: str) -> str:
    i, j = text.index(README_START), text.index(README_END)
    return text[i + len(README_START) : j].strip()


def _rows(section: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("|").split(" | ")]
            for line in section.splitlines() if line.startswith("| ") and not line.startswith("| text |")]


def test_readme_section_is_a_generated_claims_table():
    section = _section(open(_README, encoding="utf-8").read())
    rows = _rows(section)
    assert rows, "the README's claims section is empty: run `sumjax report --out DIR --readme README.md`"
    verdicts = [r[3].strip("*") for r in rows]
    assert set(verdicts) <= {HOLDS, CAVEAT, FAILS}
    assert {r[4] for r in rows} <= set(EXPERIMENTS)
    # The count line is the table's own count (a hand edit of one row or of the count shows here).
    m = re.match(r"(\d+) holds, (\d+) holds with caveat, (\d+) does not hold \(of (\d+) claims\)", section)
    assert m, section.splitlines()[0]
    assert [int(g) for g in m.groups()] == [verdicts.count(HOLDS), verdicts.count(CAVEAT), verdicts.count(FAILS),
                                            len(rows)]


def test_update_readme_replaces_only_the_section():
    claims = [("readings", Claim("SUM", "H ∝ d | all readings", "exponent 1.0", HOLDS)),
              ("guarded_bias", Claim("Guarded", "no incentive to bias", "gain 0.1", FAILS))]
    table = claims_markdown(claims, command="sumjax reproduce --out x")
    text = f"intro\n{README_START}\nold row\n{README_END}\noutro\n"
    new = update_readme(text, table)
    assert new.startswith("intro\n") and new.endswith(f"{README_END}\noutro\n")
    assert "old row" not in new
    rows = _rows(_section(new))
    assert [r[3].strip("*") for r in rows] == [HOLDS, FAILS]
    assert rows[0][1] == "H ∝ d \\| all readings"  # a '|' inside a cell cannot split the row
    assert _section(new).startswith("1 holds, 0 holds with caveat, 1 does not hold (of 2 claims).")
    with pytest.raises(ValueError, match="claims section"):
        update_readme("no markers here", table)
