"""The sdist, the wheel and the HACS zip hold what a user relies on, and only that."""

from __future__ import annotations

import email.parser
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from release.artefacts import (
    INTEGRATION,
    ZIP_NAME,
    build,
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
