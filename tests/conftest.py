"""Fixtures shared by the library tests and the integration tests."""

from __future__ import annotations

import logging
from collections.abc import Generator

import pytest

# pytest-homeassistant-custom-component ships a `custom_components` package of
# its own; importing it here, before any `hass` fixture runs, lets Home
# Assistant find our integration instead of reporting it missing.
import custom_components  # noqa: F401

DEPRECATION_REPORT = "Detected that custom integration 'ipcom'"
"""How Home Assistant starts a report that this integration uses an API it is retiring."""


class DeprecationReports(logging.Handler):
    """Collects Home Assistant's reports about this integration, from any logger, at any level.

    A handler of its own, rather than `caplog`, so that a test that clears or
    re-levels its captured records cannot hide a report.
    """

    def __init__(self) -> None:
        """Start with no reports."""
        super().__init__(logging.DEBUG)
        self.reports: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the message of every report about ipcom."""
        message = record.getMessage()
        if message.startswith(DEPRECATION_REPORT):
            self.reports.append(message)


@pytest.fixture(autouse=True)
def no_deprecation_reports() -> Generator[DeprecationReports]:
    """Fail any test during which Home Assistant reports a deprecated use by ipcom.

    Those reports are how a release warns that a later one will break the
    integration, so none may pass unnoticed.
    """
    handler = DeprecationReports()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
    if handler.reports:
        pytest.fail("Home Assistant reported deprecated use:\n" + "\n".join(handler.reports))
