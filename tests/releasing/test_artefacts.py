"""The sdist, the wheel and the HACS zip hold what a user relies on, and only that."""

from __future__ import annotations

import email.parser
import io
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from release.artefacts import (
    INSTRUMENTS,
    INTEGRATION,
    WHEEL_MUST_HOLD,
    ZIP_NAME,
    build,
    check_sdist,
    check_wheel,
    integration_files,
    integration_zip,
)
from release.version import ROOT, ReleaseError, read_versions


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The wheel and the sdist, built from the working tree as the release workflow does."""
    return build(tmp_path_factory.mktemp("dist"))


def test_the_wheel_carries_the_licence_and_its_metadata(built: tuple[Path, Path]) -> None:
    wheel, _ = built
    version = read_versions().agreed
    dist_info = f"homeanywhere_ipcom-{version}.dist-info"
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(f"{dist_info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
        metadata = email.parser.Parser().parsestr(archive.read(f"{dist_info}/METADATA").decode())
        names = archive.namelist()
    assert metadata["Name"] == "homeanywhere-ipcom"
    assert metadata["Version"] == version
    assert metadata["License-Expression"] == "MIT"
    assert metadata["License-File"] == "LICENSE"
    assert "ipcom/py.typed" in names
    assert not [name for name in names if name.startswith(("tests/", "custom_components/"))]
    assert not [name for name in names if name.endswith(".pth")]


def test_the_wheel_holds_the_library_and_no_test_instrument(built: tuple[Path, Path]) -> None:
    """The client, the device map, the command line and the simulator; not the soak or the bench."""
    wheel, _ = built
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    for module in ("client", "devices", "cli", "simulator"):
        assert f"ipcom/{module}.py" in names
    assert set(WHEEL_MUST_HOLD) <= set(names)
    stems = {Path(name).stem for name in names if name.endswith(".py")}
    assert not stems & {"soak", "soak_presses", "bench"}
    assert not [name for name in names if name.startswith("tools/")]


def test_the_sdist_holds_no_test_instrument(built: tuple[Path, Path]) -> None:
    _, sdist = built
    prefix = sdist.name.removesuffix(".tar.gz")
    with tarfile.open(sdist) as archive:
        inside = [name.removeprefix(f"{prefix}/") for name in archive.getnames()]
    assert "ipcom/client.py" in inside
    assert not [name for name in inside if name == "tools" or name.startswith("tools/")]
    assert not {Path(name).stem for name in inside if name.endswith(".py")} & set(INSTRUMENTS)


def test_a_stale_build_directory_does_not_reach_the_wheel(tmp_path: Path) -> None:
    """setuptools never empties the tree's build/lib: a module moved out of ipcom/ stays there."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "ipcom", tree / "ipcom", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE", f"{INTEGRATION}/manifest.json"):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tree / name)
    stale = tree / "build" / "lib" / "ipcom"
    shutil.copytree(tree / "ipcom", stale)
    (stale / "soak.py").write_text('"""Moved to tools/ long ago."""\n', encoding="utf-8")
    wheel, _ = build(tmp_path / "dist", tree)
    with zipfile.ZipFile(wheel) as archive:
        assert "ipcom/soak.py" not in archive.namelist()


def test_every_module_of_tools_is_a_named_instrument() -> None:
    """A new instrument in tools/ is named in INSTRUMENTS, so that the checks refuse it too."""
    modules = {path.stem for path in (ROOT / "tools").glob("*.py")} - {"__init__"}
    assert modules == set(INSTRUMENTS)


def test_the_sdist_carries_the_licence(built: tuple[Path, Path]) -> None:
    _, sdist = built
    prefix = sdist.name.removesuffix(".tar.gz")
    with tarfile.open(sdist) as archive:
        licence = archive.extractfile(f"{prefix}/LICENSE")
        assert licence is not None
        assert licence.read() == (ROOT / "LICENSE").read_bytes()
        pkg_info = archive.extractfile(f"{prefix}/PKG-INFO")
        assert pkg_info is not None
        assert "License-Expression: MIT" in pkg_info.read().decode()


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("tests/test_client.py", "unexpected top-level entry tests/test_client.py"),
        ("ipcom_repo.pth", "unexpected top-level entry ipcom_repo.pth"),
        ("custom_components/ipcom/__init__.py", "unexpected top-level entry custom_components"),
        ("ipcom/__pycache__/client.cpython-314.pyc", "compiled file"),
        ("ipcom/soak.py", "test instrument ipcom/soak.py"),
        ("ipcom/soak_presses.py", "test instrument ipcom/soak_presses.py"),
        ("ipcom/bench.py", "test instrument ipcom/bench.py"),
        ("ipcom/tools/bench.py", "test instrument ipcom/tools/bench.py"),
        ("tools/soak.py", "unexpected top-level entry tools/soak.py"),
    ],
)
def test_a_wheel_with_foreign_files_is_refused(
    built: tuple[Path, Path], tmp_path: Path, extra: str, problem: str
) -> None:
    wheel, _ = built
    spoiled = tmp_path / wheel.name
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(spoiled, "w") as target:
        for item in source.infolist():
            target.writestr(item, source.read(item))
        target.writestr(extra, "")
    with pytest.raises(ReleaseError, match=problem):
        check_wheel(spoiled)


@pytest.mark.parametrize("module", WHEEL_MUST_HOLD)
def test_a_wheel_without_a_module_users_rely_on_is_refused(
    built: tuple[Path, Path], tmp_path: Path, module: str
) -> None:
    wheel, _ = built
    spoiled = tmp_path / wheel.name
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(spoiled, "w") as target:
        for item in source.infolist():
            if item.filename != module:
                target.writestr(item, source.read(item))
    with pytest.raises(ReleaseError, match=f"missing {module}"):
        check_wheel(spoiled)


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("tools/soak.py", "unexpected tools/soak.py"),
        ("tools/__init__.py", "unexpected tools/__init__.py"),
        ("ipcom/bench.py", "test instrument ipcom/bench.py"),
    ],
)
def test_an_sdist_with_the_instruments_is_refused(
    built: tuple[Path, Path], tmp_path: Path, extra: str, problem: str
) -> None:
    _, sdist = built
    prefix = sdist.name.removesuffix(".tar.gz")
    spoiled = tmp_path / sdist.name
    with tarfile.open(sdist) as source, tarfile.open(spoiled, "w:gz") as target:
        for member in source.getmembers():
            target.addfile(member, source.extractfile(member) if member.isfile() else None)
        added = tarfile.TarInfo(f"{prefix}/{extra}")
        target.addfile(added, io.BytesIO(b""))
    with pytest.raises(ReleaseError, match=problem):
        check_sdist(spoiled)


def test_a_wheel_without_the_licence_is_refused(built: tuple[Path, Path], tmp_path: Path) -> None:
    wheel, _ = built
    spoiled = tmp_path / wheel.name
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(spoiled, "w") as target:
        for item in source.infolist():
            if not item.filename.endswith("/licenses/LICENSE"):
                target.writestr(item, source.read(item))
    with pytest.raises(ReleaseError, match="missing the LICENSE"):
        check_wheel(spoiled)


def test_the_hacs_zip_holds_the_integration_at_its_top(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / INTEGRATION, tree / INTEGRATION)
    (tree / INTEGRATION / "__pycache__").mkdir(exist_ok=True)
    (tree / INTEGRATION / "__pycache__" / "const.cpython-314.pyc").write_bytes(b"")
    archive_path = integration_zip(tmp_path / "out", tree)
    assert archive_path.name == ZIP_NAME
    with zipfile.ZipFile(archive_path) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["domain"] == "ipcom"
    assert {"__init__.py", "manifest.json", "brand/icon.png", "translations/en.json"} <= set(names)
    assert names == [path.as_posix() for path in integration_files(tree)]
    assert not [name for name in names if "__pycache__" in name or name.startswith("custom_")]


def test_the_hacs_zip_is_the_same_for_the_same_tree(tmp_path: Path) -> None:
    first = integration_zip(tmp_path / "one").read_bytes()
    assert integration_zip(tmp_path / "two").read_bytes() == first


def test_hacs_downloads_the_release_zip() -> None:
    hacs = json.loads((ROOT / "hacs.json").read_text(encoding="utf-8"))
    assert hacs["zip_release"] is True
    assert hacs["filename"] == ZIP_NAME
