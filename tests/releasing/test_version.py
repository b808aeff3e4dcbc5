"""One version everywhere, and the changelog a release's notes come from."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from release.version import (
    CHANGELOG,
    MANIFEST,
    PYPROJECT,
    ROOT,
    ReleaseError,
    bump,
    changelog_sections,
    check_release,
    read_versions,
    release_notes,
    version_from_tag,
)

RELEASE_DAY = dt.date(2026, 12, 24)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the files that carry the version, to bump without touching the working tree."""
    for name in (PYPROJECT, MANIFEST, CHANGELOG):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_the_three_places_agree() -> None:
    versions = read_versions()
    assert versions.pyproject == versions.manifest == versions.requirement
    assert versions.agreed == versions.pyproject


def test_differing_versions_are_refused_naming_each(repo: Path) -> None:
    manifest = repo / MANIFEST
    manifest.write_text(
        manifest.read_text(encoding="utf-8").replace(
            f'"version": "{read_versions().agreed}"', '"version": "9.9.9"'
        ),
        encoding="utf-8",
    )
    with pytest.raises(ReleaseError, match=r"manifest.json version 9\.9\.9.*scripts/release bump"):
        _ = read_versions(repo).agreed


def test_the_changelog_has_an_unreleased_section_and_dated_releases() -> None:
    sections = changelog_sections((ROOT / CHANGELOG).read_text(encoding="utf-8"))
    assert sections[0].name == "Unreleased"
    assert all(section.date is not None for section in sections[1:])


def test_bump_sets_every_version_and_dates_the_changelog(repo: Path) -> None:
    unreleased = changelog_sections((repo / CHANGELOG).read_text(encoding="utf-8"))[0].body
    manifest_before = (repo / MANIFEST).read_text(encoding="utf-8")

    bump("0.2.0", RELEASE_DAY, repo)

    assert read_versions(repo).agreed == "0.2.0"
    assert release_notes("0.2.0", repo) == unreleased
    sections = changelog_sections((repo / CHANGELOG).read_text(encoding="utf-8"))
    assert [(s.name, s.date, s.body) for s in sections[:2]] == [
        ("Unreleased", None, ""),
        ("0.2.0", RELEASE_DAY, unreleased),
    ]
    manifest = json.loads((repo / MANIFEST).read_text(encoding="utf-8"))
    assert "homeanywhere-ipcom==0.2.0" in manifest["requirements"]
    # Only the two version strings changed: the manifest keeps its layout.
    changed = [
        (old, new)
        for old, new in zip(
            manifest_before.splitlines(),
            (repo / MANIFEST).read_text(encoding="utf-8").splitlines(),
            strict=True,
        )
        if old != new
    ]
    assert len(changed) == 2


def test_the_first_release_may_keep_the_unreleased_version(repo: Path) -> None:
    current = read_versions(repo).agreed
    bump(current, RELEASE_DAY, repo)
    assert check_release(f"v{current}", repo) == current


def test_bump_refuses_a_released_or_older_version(repo: Path) -> None:
    bump("0.2.0", RELEASE_DAY, repo)
    with pytest.raises(ReleaseError, match="already released"):
        bump("0.2.0", RELEASE_DAY, repo)
    with pytest.raises(ReleaseError, match=r"not newer than the last release 0\.2\.0"):
        bump("0.1.9", RELEASE_DAY, repo)
    with pytest.raises(ReleaseError, match=r"MAJOR\.MINOR\.PATCH"):
        bump("0.3", RELEASE_DAY, repo)


def test_bump_refuses_a_release_with_nothing_in_its_notes(repo: Path) -> None:
    bump("0.2.0", RELEASE_DAY, repo)
    with pytest.raises(ReleaseError, match=r"is empty; say what 0\.3\.0 changes"):
        bump("0.3.0", RELEASE_DAY, repo)
    assert read_versions(repo).agreed == "0.2.0"


def test_a_tag_must_name_the_project_version_and_have_notes(repo: Path) -> None:
    current = read_versions(repo).agreed
    with pytest.raises(ReleaseError, match="has no section for"):
        check_release(f"v{current}", repo)
    bump("0.2.0", RELEASE_DAY, repo)
    with pytest.raises(ReleaseError, match=r"tag v9\.0\.0 does not match the project's version"):
        check_release("v9.0.0", repo)
    assert check_release("refs/tags/v0.2.0", repo) == "0.2.0"


@pytest.mark.parametrize("tag", ["0.1.0", "v0.1", "v01.2.3", "release-1"])
def test_malformed_tags_are_refused(tag: str) -> None:
    with pytest.raises(ReleaseError):
        version_from_tag(tag)


def test_notes_of_a_section_without_a_date_are_refused(repo: Path) -> None:
    changelog = repo / CHANGELOG
    changelog.write_text(
        changelog.read_text(encoding="utf-8") + "\n## [0.0.9]\n\n- something\n", encoding="utf-8"
    )
    with pytest.raises(ReleaseError, match="no release date"):
        release_notes("0.0.9", repo)
