"""Every public function (and public class with a hand-written constructor or factory classmethods)
of the documented modules has a Google-style docstring with ``Args:`` (when it takes arguments) and
``Returns:`` (functions, unless annotated ``-> None``), and every name listed under ``Args:`` is a real parameter — read from the
live objects with `inspect`, so a new function without sections, or a renamed argument, fails."""

from __future__ import annotations

import importlib
import inspect
import re

import pytest

MODULES = [
    "sumjax.alignment.harm",
    "sumjax.alignment.readings",
    "sumjax.alignment.functionals",
    "sumjax.alignment.information",
    "sumjax.alignment.montecarlo",
    "sumjax.alignment.scaling",
    "sumjax.alignment.fragility",
    "sumjax.alignment.sampling",
    "sumjax.alignment.vmf",
    "sumjax.alignment.cosine",
    "sumjax.alignment.quadrature",
    "sumjax.guarded.bias",
    "sumjax.guarded.continuous",
    "sumjax.guarded.convexity",
    "sumjax.guarded.simplex",
    "sumjax.guarded.policies",
    "sumjax.sharding",
    "sumjax.distributed",
    "sumjax.experiments._base",
    "sumjax.report",
    "sumjax.tilt",
    "sumjax.worlds",
    "sumjax.divergence",
    "sumjax.baselines",
    "sumjax.utilities",
    "sumjax.agents",
    "sumjax.guarded.learning",
    "sumjax.alignment.scenarios.engine",
    "sumjax.alignment.scenarios.deception",
    "sumjax.alignment.scenarios.fragility",
    "sumjax.alignment.scenarios.goodharting",
    "sumjax.alignment.scenarios.left_turn",
    "sumjax.alignment.scenarios.power_growth",
    "sumjax.alignment.scenarios.repeats",
    "sumjax.alignment.scenarios.sandbox",
]


def _params(fn) -> list[str]:
    """Documentable parameters: not self/cls; *args/**kwargs keep their stars (Google style)."""
    out = []
    for p in inspect.signature(fn).parameters.values():
        if p.name in ("self", "cls"):
            continue
        out.append({p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "") + p.name)
    return out


def _section(doc: str, title: str) -> str | None:
    """The body of a Google-style section (indented lines after ``title:``), or None."""
    m = re.search(rf"^{title}:\s*\n((?:[ \t]+\S.*\n?|\s*\n)+)", doc, flags=re.M)
    return None if m is None else m.group(1)


def _documented_args(doc: str) -> list[str]:
    body = _section(doc, "Args") or ""
    lines = [l for l in body.splitlines() if l.strip()]
    if not lines:
        return []
    indent = min(len(l) - len(l.lstrip()) for l in lines)
    return [re.match(r"\s*(\**\w+)", l).group(1) for l in lines if len(l) - len(l.lstrip()) == indent]


def _own_init(cls):
    """The constructor a user calls, when hand-written (not a dataclass/equinox-generated one)."""
    init = cls.__dict__.get("__init__")
    if init is None or not inspect.isfunction(init):
        return None
    return None if init.__code__.co_filename == "<string>" else init


def _targets():
    """(id, object whose signature is documented, docstring, needs Returns)."""
    out = []
    for name in MODULES:
        mod = importlib.import_module(name)
        for attr in mod.__all__:
            obj = getattr(mod, attr)
            if getattr(obj, "__module__", None) != name:
                continue  # a re-export: checked in its own module
            if inspect.isclass(obj):
                if issubclass(obj, BaseException):
                    continue
                init = _own_init(obj)
                if init is not None and _params(init):
                    # merge_init_into_class: the class docstring (or __init__'s) documents the arguments
                    doc = (inspect.getdoc(obj) or "") + "\n" + (init.__doc__ and inspect.cleandoc(init.__doc__) or "")
                    out.append((f"{name}.{attr}", init, doc, False))
                for meth_name, meth in vars(obj).items():
                    if isinstance(meth, classmethod) and not meth_name.startswith("_"):
                        fn = meth.__func__
                        out.append((f"{name}.{attr}.{meth_name}", fn, inspect.getdoc(fn) or "", True))
            elif inspect.isfunction(obj):
                out.append((f"{name}.{attr}", obj, inspect.getdoc(obj) or "", True))
    return out


TARGETS = _targets()


def test_the_list_covers_the_modules():
    """A guard against a vacuous pass: the modules export many documented callables."""
    assert len(TARGETS) >= 90, len(TARGETS)
    assert {m.rsplit(".", 1)[0] for m, *_ in TARGETS} >= set(MODULES) - {"sumjax.experiments"}


@pytest.mark.parametrize("target", TARGETS, ids=[t[0] for t in TARGETS])
def test_docstring_has_args_and_returns(target):
    ident, fn, doc, needs_returns = target
    params = _params(fn)
    assert doc.strip(), f"{ident} has no docstring"
    if params:
        assert _section(doc, "Args") is not None, f"{ident} takes {params} but its docstring has no 'Args:' section"
        documented = _documented_args(doc)
        assert documented == [p for p in params if p in documented], f"{ident}: Args out of order: {documented}"
        missing = [p for p in params if p not in documented]
        extra = [a for a in documented if a not in params]
        assert not missing and not extra, f"{ident}: undocumented {missing}, not parameters {extra}"
    if needs_returns and inspect.signature(fn).return_annotation not in (None, "None"):
        assert _section(doc, "Returns") is not None or _section(doc, "Yields") is not None, (
            f"{ident} has no 'Returns:' section"
        )
