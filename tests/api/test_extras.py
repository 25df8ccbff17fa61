"""The optional extras: the `all` extra, and how messages, help and the README tell people to install one
(from the source folder, never `zeroshot[em]`, which an index resolves to another project)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from zeroshot.cli.main import build_parser
from zeroshot.extras import extra_packages, install_hint

REPO = Path(__file__).resolve().parents[2]
# `zeroshot[em]` and the like: a package index's zeroshot, not this one.
INDEX_NAME = re.compile(r"zeroshot\[(?:em|napari|mpi|report|test|all)[],]")


def test_the_all_extra_holds_every_optional_package():
    everything = extra_packages("all")
    for extra in ("em", "napari", "mpi", "report"):
        packages = extra_packages(extra)
        assert packages, extra
        assert set(packages) <= set(everything), extra


@pytest.mark.parametrize(("extra", "package"), [("em", "rosettasciio[hdf5]"), ("report", "matplotlib")])
def test_install_hint_names_the_source_folder_and_the_packages(extra, package):
    hint = install_hint(extra)
    assert f'pip install ".[{extra}]"' in hint and "source folder" in hint
    assert package in hint
    assert not INDEX_NAME.search(hint)


def _sources() -> list[Path]:
    return [*sorted((REPO / "python" / "zeroshot").rglob("*.py")), REPO / "README.md", REPO / "CONTRIBUTING.md"]


def test_no_message_help_or_readme_names_an_extra_by_the_index_name():
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in _sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if INDEX_NAME.search(line)
    ]
    assert not found, "\n".join(found)


def test_denoise_help_names_the_em_extra_from_the_source_folder():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    text = subparsers.choices["denoise"].format_help()
    assert '".[em]"' in " ".join(text.split())
    assert not INDEX_NAME.search(text)


def test_the_readmes_requirements_are_those_of_pyproject_and_cmake():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 or later
    python = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    cmake = re.search(r"cmake_minimum_required\(VERSION ([\d.]+)\)", (REPO / "CMakeLists.txt").read_text())
    assert python.startswith(">=") and cmake is not None
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    assert f"**Python** {python[2:]} or later" in readme
    assert f"**CMake** {cmake[1]} or later" in readme
