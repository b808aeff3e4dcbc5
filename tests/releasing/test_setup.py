"""scripts/setup provides a Python 3.14 itself where none is found: a uv-managed one.

Where neither $IPCOM_PYTHON nor python3.14 on PATH works, scripts/setup fetches uv from PyPI
with the system's python3 and has it install Python 3.14. The download of that Python cannot
happen here (it comes from GitHub, or a mirror); these tests point uv at a mirror that refuses
every connection and check that the route is taken and that the failure says what to do. The
script runs from a copy in a temporary directory, so the repository's .venvs/ are never touched
(nor reused: there is none to reuse there).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from release.version import ROOT

SETUP = ROOT / "scripts" / "setup"
UNREACHABLE_MIRROR = "http://127.0.0.1:9/python-build-standalone"
"""A loopback port nothing listens on: uv's download fails at once, as it would when blocked."""


def _uv_version() -> str:
    for line in SETUP.read_text(encoding="utf-8").splitlines():
        if line.startswith("uv_version="):
            return line.split("=", 1)[1].strip('"')
    raise AssertionError("scripts/setup pins no uv_version")


def _path_without_python314() -> str:
    entries = os.environ.get("PATH", os.defpath).split(os.pathsep)
    return os.pathsep.join(
        entry for entry in entries if entry and not (Path(entry) / "python3.14").exists()
    )


def _run_setup(tmp_path: Path, path: str, **extra: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "scripts").mkdir()
    shutil.copy2(SETUP, tmp_path / "scripts" / "setup")
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "IPCOM_PYTHON" and not key.startswith("UV_")
    }
    env.update(
        PATH=path,
        # Nothing uv installed for the user before counts, and nothing is installed for them.
        UV_PYTHON_INSTALL_DIR=str(tmp_path / "uv-pythons"),
        UV_PYTHON_INSTALL_MIRROR=UNREACHABLE_MIRROR,
        UV_HTTP_RETRIES="0",
        **extra,
    )
    return subprocess.run(
        ["bash", str(tmp_path / "scripts" / "setup"), "newest"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=90,
    )


def _assert_uv_route_failed_clearly(result: subprocess.CompletedProcess[str], tmp: Path) -> None:
    log = result.stderr
    assert result.returncode == 1, log
    # The route: uv, pinned, asked to install a Python 3.14 from the configured mirror.
    assert f"managed by uv: installing one with uv {_uv_version()}" in log, log
    assert f"from UV_PYTHON_INSTALL_MIRROR={UNREACHABLE_MIRROR}" in log, log
    # uv's own error names what it could not download (wrapped to the width it guesses);
    # then what to do about it.
    assert f"Failed to download `{UNREACHABLE_MIRROR}/" in " ".join(log.split()), log
    assert "uv could not install Python 3.14" in log, log
    assert "make that reachable" in log, log
    assert "install Python 3.14.2 or newer yourself, and name it in IPCOM_PYTHON" in log, log
    assert "uv-managed at" not in log, log
    assert not (tmp / ".venvs" / "newest" / "bin" / "python").exists()


def test_without_python314_on_path_setup_takes_the_uv_route(tmp_path: Path) -> None:
    path = _path_without_python314()
    if shutil.which("python3", path=path) is None:
        pytest.skip("python3 lives beside python3.14 here: no PATH has the one without the other")
    result = _run_setup(tmp_path, path)
    _assert_uv_route_failed_clearly(result, tmp_path)


def test_a_broken_python314_and_ipcom_python_are_passed_over_for_the_uv_route(
    tmp_path: Path,
) -> None:
    # A pyenv shim answers `command -v python3.14` for a version that is not installed.
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    broken = shadow / "python3.14"
    broken.write_text("#!/bin/sh\necho 'pyenv: python3.14: command not found' >&2\nexit 127\n")
    broken.chmod(0o755)
    path = os.pathsep.join([str(shadow), os.environ.get("PATH", os.defpath)])
    result = _run_setup(tmp_path, path, IPCOM_PYTHON="no-such-python")
    assert "IPCOM_PYTHON=no-such-python: no such command; passed over" in result.stderr
    assert f"python3.14 on PATH ({broken}) does not run; passed over" in result.stderr
    _assert_uv_route_failed_clearly(result, tmp_path)
