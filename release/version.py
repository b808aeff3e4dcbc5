"""The one version number and the changelog it is released from.

The version lives in three places that must always agree: `pyproject.toml` (the library on the
package index), the manifest's `version` (what Home Assistant and HACS show) and the manifest's
requirement pin `homeanywhere-ipcom==X` (what Home Assistant installs). A release tag is `vX`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTION = "homeanywhere-ipcom"
PYPROJECT = "pyproject.toml"
MANIFEST = "custom_components/ipcom/manifest.json"
CHANGELOG = "CHANGELOG.md"
UNRELEASED = "Unreleased"

# A plain release number: what the tag, the package index and HACS all read the same way.
_VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
_PYPROJECT_VERSION = re.compile(r'^(version\s*=\s*")([^"]*)(")', re.MULTILINE)
_MANIFEST_VERSION = re.compile(r'("version"\s*:\s*")([^"]*)(")')
_MANIFEST_PIN = re.compile(rf'("{DISTRIBUTION}==)([^"]*)(")')
_SECTION = re.compile(
    r"^## \[(?P<name>[^\]]+)\](?: - (?P<date>\d{4}-\d{2}-\d{2}))?[ \t]*$", re.MULTILINE
)


class ReleaseError(Exception):
    """The repository is not in a state that can be released; the message says what to fix."""


@dataclass(frozen=True)
class Versions:
    """Every place the version is written, as found."""

    pyproject: str
    manifest: str
    requirement: str

    @property
    def agreed(self) -> str:
        """The version, when every place says the same; else a ReleaseError naming them."""
        found = {self.pyproject, self.manifest, self.requirement}
        if len(found) != 1:
            raise ReleaseError(
                f"the versions differ: {PYPROJECT} {self.pyproject}, {MANIFEST} version "
                f"{self.manifest}, {MANIFEST} requirement {DISTRIBUTION}=={self.requirement}; "
                "set them all with: scripts/release bump X.Y.Z"
            )
        return self.pyproject


def parse_version(text: str) -> tuple[int, int, int]:
    """The parts of a MAJOR.MINOR.PATCH version; ReleaseError for anything else."""
    match = _VERSION.match(text)
    if match is None:
        raise ReleaseError(f"{text!r} is not a version of the form MAJOR.MINOR.PATCH")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def read_versions(root: Path = ROOT) -> Versions:
    """Read the version from each place it is written."""
    project = tomllib.loads((root / PYPROJECT).read_text(encoding="utf-8"))["project"]
    manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    pins = [
        requirement.removeprefix(f"{DISTRIBUTION}==")
        for requirement in manifest.get("requirements", [])
        if requirement.startswith(f"{DISTRIBUTION}==")
    ]
    if len(pins) != 1:
        raise ReleaseError(f"{MANIFEST} must require {DISTRIBUTION}==X exactly once")
    return Versions(pyproject=project["version"], manifest=manifest["version"], requirement=pins[0])


def version_from_tag(tag: str) -> str:
    """The version a release tag names: `v1.2.3` -> `1.2.3` (also `refs/tags/v1.2.3`)."""
    name = tag.removeprefix("refs/tags/")
    if not name.startswith("v"):
        raise ReleaseError(f"release tags look like v1.2.3, not {tag!r}")
    version = name[1:]
    parse_version(version)
    return version


@dataclass(frozen=True)
class Section:
    """One `## [name] - date` section of the changelog."""

    name: str
    date: dt.date | None
    body: str


def changelog_sections(text: str) -> list[Section]:
    """The changelog's sections, newest first, as written."""
    matches = list(_SECTION.finditer(text))
    sections = []
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        body = text[match.end() : end]
        # Link reference definitions at the end belong to the file, not to the last section.
        body = re.sub(r"(?m)^\[[^\]]+\]: \S+\s*$", "", body).strip()
        date = dt.date.fromisoformat(match["date"]) if match["date"] else None
        sections.append(Section(match["name"], date, body))
    return sections


def release_notes(version: str, root: Path = ROOT) -> str:
    """The changelog section of a released version: the GitHub release's notes."""
    text = (root / CHANGELOG).read_text(encoding="utf-8")
    for section in changelog_sections(text):
        if section.name == version:
            if section.date is None:
                raise ReleaseError(f"{CHANGELOG}: the section of {version} has no release date")
            if not section.body:
                raise ReleaseError(f"{CHANGELOG}: the section of {version} is empty")
            return section.body
    raise ReleaseError(f"{CHANGELOG} has no section for {version}; run scripts/release bump")


def check_release(tag: str, root: Path = ROOT) -> str:
    """Everything a tag needs before it is published; the version it releases."""
    version = version_from_tag(tag)
    agreed = read_versions(root).agreed
    if version != agreed:
        raise ReleaseError(f"tag {tag} does not match the project's version {agreed}")
    release_notes(version, root)
    return version


def bump(new: str, today: dt.date, root: Path = ROOT) -> None:
    """Set every version to `new` and turn the Unreleased changelog section into its section.

    The current version may be given again when it was never released (the first release), so
    that its changelog section gets its date; anything lower than a released version is refused.
    """
    new_parts = parse_version(new)
    current = read_versions(root).agreed
    changelog_path = root / CHANGELOG
    changelog = changelog_path.read_text(encoding="utf-8")
    sections = changelog_sections(changelog)
    released = [section for section in sections if section.date is not None]
    if any(section.name == new for section in released):
        raise ReleaseError(f"{new} is already released in {CHANGELOG}")
    newest = max((parse_version(section.name) for section in released), default=None)
    if newest is not None and new_parts <= newest:
        raise ReleaseError(f"{new} is not newer than the last release {'.'.join(map(str, newest))}")
    if new_parts < parse_version(current):
        raise ReleaseError(f"{new} is older than the current version {current}")
    unreleased = next((section for section in sections if section.name == UNRELEASED), None)
    if unreleased is None:
        raise ReleaseError(f"{CHANGELOG} has no '## [{UNRELEASED}]' section to release")
    if not unreleased.body:
        raise ReleaseError(f"{CHANGELOG}: '## [{UNRELEASED}]' is empty; say what {new} changes")

    heading = f"## [{UNRELEASED}]"
    changelog = changelog.replace(heading, f"{heading}\n\n## [{new}] - {today.isoformat()}", 1)
    changelog_path.write_text(changelog, encoding="utf-8")

    pyproject_path = root / PYPROJECT
    pyproject, count = _PYPROJECT_VERSION.subn(
        rf"\g<1>{new}\g<3>", pyproject_path.read_text(encoding="utf-8"), count=1
    )
    if count != 1:
        raise ReleaseError(f"{PYPROJECT}: no version line found")
    pyproject_path.write_text(pyproject, encoding="utf-8")

    # The manifest is edited as text, so its layout (which hassfest and reviewers read) stays.
    manifest_path = root / MANIFEST
    manifest = manifest_path.read_text(encoding="utf-8")
    manifest = _MANIFEST_VERSION.sub(rf"\g<1>{new}\g<3>", manifest, count=1)
    manifest = _MANIFEST_PIN.sub(rf"\g<1>{new}\g<3>", manifest, count=1)
    manifest_path.write_text(manifest, encoding="utf-8")
    if read_versions(root).agreed != new:
        raise ReleaseError(f"{MANIFEST}: could not set the version to {new}")
