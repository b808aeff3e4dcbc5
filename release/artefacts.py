"""The release's files: the library's sdist and wheel, and the integration's zip for HACS.

Each artefact is checked for what a user of it relies on, so a packaging mistake (a missing
licence, tests shipped as a package, a stray `.pth` that puts the repository on `sys.path`, a
test instrument from `tools/` copied into the package) fails here rather than on someone's Home
Assistant.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from .version import DISTRIBUTION, ROOT, ReleaseError, read_versions

INTEGRATION = Path("custom_components/ipcom")
ZIP_NAME = "ipcom.zip"
_UV_IN_REPO = Path(".venvs/newest/bin/uv")
# What HACS and Home Assistant never need from a working tree.
_NOT_SHIPPED = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
WHEEL_MUST_HOLD = (
    "ipcom/__init__.py",
    "ipcom/py.typed",
    "ipcom/client.py",
    "ipcom/devices.py",
    "ipcom/cli.py",
    "ipcom/simulator.py",
)
"""The client, the device map, the `ipcom` command (`ipcom.cli:main`) and the simulator."""
INSTRUMENTS = ("soak", "soak_presses", "bench")
"""The modules of `tools/`: the soak, its press audit and the bench, never in an artefact."""


def _instrument(name: str) -> bool:
    """Whether an archive entry is a test instrument's module, in whatever folder."""
    path = PurePosixPath(name)
    return path.suffix in {".py", ".pyc"} and path.stem.split(".")[0] in INSTRUMENTS


def find_uv(root: Path = ROOT) -> str:
    """The uv that builds: $UV, else uv on PATH, else this venv's (Home Assistant depends on uv)."""
    candidates = [
        os.environ.get("UV"),
        shutil.which("uv"),
        str(Path(sys.executable).with_name("uv")),
        str(root / _UV_IN_REPO),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise ReleaseError("uv is needed to build: install it (pip install uv) or set UV=/path/to/uv")


def build(out: Path, root: Path = ROOT) -> tuple[Path, Path]:
    """Build the sdist, then the wheel from it, into an emptied `out`; check both; their paths.

    The wheel is built from the unpacked sdist, as a user's installer would, never from the
    working tree: setuptools copies the package into the tree's `build/lib` and never empties it,
    so a wheel built there still carries every module since deleted or moved out of `ipcom/`.
    """
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    subprocess.run(
        [find_uv(root), "build", "--quiet", "--out-dir", str(out), str(root)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    version = read_versions(root).agreed
    stem = f"{DISTRIBUTION.replace('-', '_')}-{version}"
    wheel = out / f"{stem}-py3-none-any.whl"
    sdist = out / f"{stem}.tar.gz"
    for artefact in (wheel, sdist):
        if not artefact.is_file():
            built = ", ".join(path.name for path in out.iterdir())
            raise ReleaseError(f"expected {artefact.name} in {out}; built: {built or 'nothing'}")
    check_wheel(wheel)
    check_sdist(sdist, root)
    return wheel, sdist


def check_wheel(wheel: Path) -> None:
    """The wheel holds the `ipcom` package, its `py.typed` and the licence, and nothing else.

    Nothing else means no test instrument either: the soak and the bench live in `tools/`.
    """
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    problems = [f"missing {name}" for name in WHEEL_MUST_HOLD if name not in names]
    problems += [f"test instrument {name}" for name in names if _instrument(name)]
    dist_info = {name.split("/", 1)[0] for name in names if ".dist-info/" in name}
    if len(dist_info) != 1:
        problems.append(f"expected one .dist-info directory, found {sorted(dist_info)}")
    elif f"{next(iter(dist_info))}/licenses/LICENSE" not in names:
        problems.append("missing the LICENSE in .dist-info/licenses/")
    for name in names:
        top = PurePosixPath(name).parts[0]
        if top in dist_info:
            continue
        if top != "ipcom":
            problems.append(f"unexpected top-level entry {name}")
        elif "__pycache__" in name or name.endswith(".pyc"):
            problems.append(f"compiled file {name}")
    if problems:
        raise ReleaseError(f"{wheel.name}: " + "; ".join(problems))


def check_sdist(sdist: Path, root: Path = ROOT) -> None:
    """The sdist holds the licence, the project file and the package; no integration, no tools."""
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    prefix = sdist.name.removesuffix(".tar.gz")
    inside = {name.removeprefix(f"{prefix}/") for name in names if name.startswith(f"{prefix}/")}
    problems = [
        f"missing {name}"
        for name in ("LICENSE", "pyproject.toml", "PKG-INFO", "ipcom/__init__.py", "ipcom/py.typed")
        if name not in inside
    ]
    problems += [
        f"unexpected {name}" for name in sorted(inside) if name.startswith(("custom_", "tools/"))
    ]
    problems += [f"test instrument {name}" for name in sorted(inside) if _instrument(name)]
    outside = [name for name in names if name != prefix and not name.startswith(f"{prefix}/")]
    if outside:
        problems.append(f"entries outside {prefix}/: {', '.join(outside[:5])}")
    if problems:
        raise ReleaseError(f"{sdist.name}: " + "; ".join(problems))
    if (root / "LICENSE").read_bytes() != _member(sdist, f"{prefix}/LICENSE"):
        raise ReleaseError(f"{sdist.name}: its LICENSE differs from the repository's")


def _member(sdist: Path, name: str) -> bytes:
    with tarfile.open(sdist) as archive:
        member = archive.extractfile(name)
        if member is None:
            raise ReleaseError(f"{sdist.name}: {name} is not a file")
        return member.read()


def integration_files(root: Path = ROOT) -> list[Path]:
    """The files of the integration that a user's `custom_components/ipcom` holds, sorted."""
    source = root / INTEGRATION
    return sorted(
        path.relative_to(source)
        for path in source.rglob("*")
        if path.is_file() and not _NOT_SHIPPED.intersection(path.relative_to(source).parts)
    )


def integration_zip(out: Path, root: Path = ROOT) -> Path:
    """`ipcom.zip` for HACS (`zip_release`): the integration's files at the top of the zip.

    HACS unpacks it into `custom_components/ipcom/`, so nothing is nested in folders of the
    repository. Entries carry a fixed time, so the same tree always gives the same zip.
    """
    out.mkdir(parents=True, exist_ok=True)
    target = out / ZIP_NAME
    source = root / INTEGRATION
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative in integration_files(root):
            info = zipfile.ZipInfo(relative.as_posix(), date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, (source / relative).read_bytes())
    return target
