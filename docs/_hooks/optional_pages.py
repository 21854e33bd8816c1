"""MkDocs hook: drop nav entries for the pages listed in `extra.optional_pages` while their file is absent.

Other branches add those pages (the runner's caching.md, the scenarios notebook); every other missing
page still fails the strict build.
"""

from __future__ import annotations

import pathlib


def _prune(items, missing):
    out = []
    for item in items:
        if isinstance(item, dict):
            (title, value), = item.items()
            if isinstance(value, list):
                value = _prune(value, missing)
                if value:
                    out.append({title: value})
            elif value not in missing:
                out.append(item)
        elif item not in missing:
            out.append(item)
    return out


def on_config(config, **kwargs):
    docs = pathlib.Path(config["docs_dir"])
    missing = {p for p in config["extra"].get("optional_pages", []) if not (docs / p).exists()}
    if missing and config["nav"]:
        config["nav"] = _prune(config["nav"], missing)
    return config


_EXPERIMENTS_MARKER = "<!-- experiment modules -->"


def on_page_markdown(markdown, page, **kwargs):
    """Expand the marker on the experiments API page into one section per registered experiment,
    so the page follows `sumjax.experiments.EXPERIMENTS` as experiments are added."""
    if _EXPERIMENTS_MARKER not in markdown:
        return markdown
    from sumjax.experiments import EXPERIMENTS

    blocks = [
        f"## `{name}`\n\n::: {module}\n    options:\n      heading_level: 3\n      members: false\n"
        for name, module in EXPERIMENTS.items()
    ]
    return markdown.replace(_EXPERIMENTS_MARKER, "\n".join(blocks))
