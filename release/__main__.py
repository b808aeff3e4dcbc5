"""`scripts/release`: every step of a release, the same here as in the release workflow.

scripts/release version          the project's version (fails if the three places differ)
scripts/release check v1.2.3     the tag matches the version and the changelog has its notes
scripts/release bump 1.2.3       set every version, date the Unreleased changelog section
scripts/release build [--out D]  sdist and wheel into D (default dist/), contents checked
scripts/release zip [--out D]    D/ipcom.zip: the integration, for HACS
scripts/release notes [1.2.3]    the changelog section of a version (default: the current)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from .artefacts import build, integration_zip
from .version import (
    CHANGELOG,
    ROOT,
    ReleaseError,
    bump,
    check_release,
    read_versions,
    release_notes,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/release",
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[1:]) if __doc__ else None,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("version", help="print the project's version")
    check = commands.add_parser("check", help="check that a tag can be released")
    check.add_argument(
        "tag", nargs="?", default=os.environ.get("GITHUB_REF_NAME"), help="default $GITHUB_REF_NAME"
    )
    bumping = commands.add_parser("bump", help="set the version everywhere and date the changelog")
    bumping.add_argument("version")
    bumping.add_argument("--date", type=dt.date.fromisoformat, default=dt.date.today())
    for name, what in (("build", "the sdist and the wheel"), ("zip", "the integration's zip")):
        command = commands.add_parser(name, help=f"build {what}")
        command.add_argument("--out", type=Path, default=ROOT / "dist")
    notes = commands.add_parser("notes", help=f"print a version's section of {CHANGELOG}")
    notes.add_argument("version", nargs="?")
    return parser


def run(argv: list[str] | None = None) -> int:
    """Run one command; its exit status."""
    args = _parser().parse_args(argv)
    match args.command:
        case "version":
            print(read_versions().agreed)
        case "check":
            if not args.tag:
                raise ReleaseError("name the tag (or set GITHUB_REF_NAME)")
            print(f"release: {args.tag} releases version {check_release(args.tag)}")
        case "bump":
            bump(args.version, args.date)
            print(
                f"release: version {args.version} set in pyproject.toml and the manifest; "
                f"{CHANGELOG} has its section. Commit, then tag v{args.version} and push the tag."
            )
        case "build":
            for artefact in build(args.out.resolve()):
                print(artefact)
        case "zip":
            print(integration_zip(args.out.resolve()))
        case "notes":
            print(release_notes(args.version or read_versions().agreed))
    return 0


def main() -> int:
    """Entry point: errors are one line on stderr, never a traceback."""
    try:
        return run()
    except (ReleaseError, OSError) as err:
        print(f"release: {err}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as err:
        print(f"release: {' '.join(map(str, err.cmd))} failed ({err.returncode})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
