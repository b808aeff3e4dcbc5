"""The integration's schemas are built with the library Home Assistant validates with."""

from __future__ import annotations

from homeassistant.helpers import config_validation as cv

from custom_components.ipcom.validation import vol


def test_vol_is_the_library_of_home_assistants_own_schemas() -> None:
    """voluptuous up to 2026.8, probatio (under the name voluptuous) from 2026.9."""
    assert isinstance(cv.PLATFORM_SCHEMA, vol.Schema)
    assert isinstance(vol.Schema({vol.Required("a"): int}), type(cv.PLATFORM_SCHEMA))
