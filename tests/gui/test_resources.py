"""The icons and the stylesheet live in the top-level ``resources/`` folder and are found from a
checkout and from an install."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from app.resources import resource, resources_dir, stylesheet

CHECKOUT = Path(__file__).resolve().parents[2]


def test_the_resources_are_found_in_the_checkouts_top_level_folder() -> None:
    assert resources_dir() == CHECKOUT / "resources"
    for name in ("icon.svg", "style.qss", "icons/people.svg", "icons/chevron-down.svg"):
        assert resource(name).is_file(), name
    # the stylesheet's arrow images point at files that exist
    text = stylesheet()
    assert "@RES@" not in text
    for line in text.splitlines():
        if "url(" in line:
            target = line.split("url(", 1)[1].split(")", 1)[0]
            assert Path(target).is_file(), target


def test_every_icon_the_app_asks_for_exists() -> None:
    import re

    names = set()
    for source in (CHECKOUT / "app").rglob("*.py"):
        names |= set(re.findall(r'\bicon\("([a-z-]+)"\)', source.read_text(encoding="utf-8")))
    assert names, "no icon(...) calls found: the pattern is stale"
    for name in names - {"app"}:
        assert resource(f"icons/{name}.svg").is_file(), name


def test_an_install_carries_every_resource_file_beside_the_app_package() -> None:
    """``pip install`` puts the ``resources`` package (listed in the packages to find) with
    every file its package-data patterns name into site-packages beside ``app``, where
    :func:`resources_dir` looks first."""
    config = tomllib.loads((CHECKOUT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    assert "resources" in setuptools["packages"]["find"]["include"]
    patterns = setuptools["package-data"]["resources"]
    folder = CHECKOUT / "resources"
    files = [
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts
    ]
    assert files
    for name in files:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
    assert (folder / "__init__.py").is_file()  # a package, so that it is installed at all
