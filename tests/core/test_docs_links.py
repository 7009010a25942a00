"""The documentation holds together: every link between the docs and every docs path the code
cites points at something that exists, and the README stays short enough to read in minutes.

Docs move (the README was split into ``docs/``); a citation that outlives its target sends a
reader nowhere, so the check is mechanical rather than left to review.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README_MAX_LINES = 200

#: Markdown inline links and images: ``[text](target)`` / ``![alt](target "title")``.
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
#: A repository path under docs/ cited in code (docstrings, comments, strings).
DOCS_PATH = re.compile(r"(?<![\w./-])docs/[\w./-]*[\w/]")
#: Where code may cite docs: the packages, benchmarks, tools, tests and the project file.
CODE_ROOTS = ("facenet_core", "app", "bench", "tools", "tests")


def markdown_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def code_files() -> list[Path]:
    files = [REPO / "main.py", REPO / "pyproject.toml"]
    for root in CODE_ROOTS:
        for path in sorted((REPO / root).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            # Python files, and tools/' scripts without a suffix (tools/test, tools/screenshots).
            if path.suffix == ".py" or (path.parent.name == "tools" and not path.suffix):
                files.append(path)
    return [path for path in files if path.exists()]


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading keeps its text
    kept = "".join(
        ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in ("L", "N", "M")
    )
    return kept.replace(" ", "-")


def prose_lines(path: Path) -> list[str]:
    """The lines of a Markdown file outside fenced code blocks."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for line in prose_lines(path):
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f"{base}-{count}")
    return result


def broken_links(path: Path, root: Path = REPO) -> list[str]:
    """Links of ``path`` whose file or heading does not exist, named relative to ``root``."""
    problems = []
    for line in prose_lines(path):
        # A code span is not a link (`[x](y)` shows Markdown), unless it is a link's whole text
        # ([`scan`](cli.md)): mask the spans that are not followed by "](".
        for target in LINK.findall(re.sub(r"`[^`]*`(?!\]\()", "``", line)):
            if re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
                continue  # http:, https:, mailto: ... : not a file in this repository
            file_part, _, fragment = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(root)}: {target}"
            if not resolved.exists():
                problems.append(f"{where} (no such file)")
            elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
                problems.append(f"{where} (no heading with that anchor)")
    return problems


def test_readme_is_short_enough_to_read_in_minutes() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines; move detail to docs/ (at most {README_MAX_LINES})"
    )


def test_every_markdown_link_points_at_a_file_and_heading_that_exist() -> None:
    problems = [problem for path in markdown_files() for problem in broken_links(path)]
    assert not problems, "\n".join(problems)


def test_every_docs_path_cited_in_code_exists() -> None:
    cited: list[tuple[Path, str]] = []
    for path in code_files():
        for match in DOCS_PATH.findall(path.read_text(encoding="utf-8", errors="replace")):
            cited.append((path, match.rstrip("./")))
    assert cited, "no docs/ citation found at all: the scan itself is broken"
    missing = [
        f"{path.relative_to(REPO)}: {target}"
        for path, target in cited
        if not (REPO / target).exists()
    ]
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        (
            "`scan`: add folders of photos to the library",
            "scan-add-folders-of-photos-to-the-library",
        ),
        ("The user's word, edits and undo", "the-users-word-edits-and-undo"),
        ("Unassigned and Ignored", "unassigned-and-ignored"),
    ],
)
def test_anchors_follow_githubs_rule(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_the_checks_catch_a_broken_link_and_a_missing_anchor(tmp_path: Path) -> None:
    (tmp_path / "target.md").write_text("# A heading\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](target.md#a-heading) [gone](nowhere.md) [bad anchor](target.md#other)\n"
        "[web](https://example.org/x) `[code](not-a-link.md)`\n"
        "```\n[fenced](also-not-a-link.md)\n```\n",
        encoding="utf-8",
    )
    assert broken_links(page, root=tmp_path) == [
        "page.md: nowhere.md (no such file)",
        "page.md: target.md#other (no heading with that anchor)",
    ]
