"""The instruments are a library's users: importing them configures nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

IMPORT_AND_LOOK = """
import logging
import tools.bench, tools.soak, tools.soak_presses
assert not logging.getLogger().handlers, logging.getLogger().handlers
for name in ("ipcom", "tools"):
    logger = logging.getLogger(name)
    assert (logger.level, logger.handlers, logger.propagate) == (logging.NOTSET, [], True), name
"""


def test_importing_the_instruments_configures_no_logging() -> None:
    """Only their `main`, the entry point, may configure logging (as `ipcom.cli.main` does)."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_AND_LOOK],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
