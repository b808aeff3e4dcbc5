"""Fixtures shared by the library tests and the integration tests."""

from __future__ import annotations

# pytest-homeassistant-custom-component ships a `custom_components` package of
# its own; importing it here, before any `hass` fixture runs, lets Home
# Assistant find our integration instead of reporting it missing.
import custom_components  # noqa: F401
