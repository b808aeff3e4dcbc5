"""The ranges an installation accepts, for code that validates input before it calls the library.

The public home of these numbers: an integration or a user interface takes them
from here, never from `ipcom.protocol`, which is the wire format and may change.
The library's own validators (`ipcom.models.validate_address`,
`ipcom.models.validate_value`, `ipcom.models.validate_percent`,
`ipcom.messages.validate_credentials`) enforce the same limits.
"""

from __future__ import annotations

from typing import Final

from . import protocol

MODULE_COUNT: Final[int] = protocol.MODULE_COUNT
"""Bus modules are numbered 1..MODULE_COUNT."""
OUTPUTS_PER_MODULE: Final[int] = protocol.OUTPUTS_PER_MODULE
"""Outputs of a module are numbered 1..OUTPUTS_PER_MODULE."""
OUTPUT_VALUE_MAX: Final[int] = protocol.OUTPUT_VALUE_MAX
"""A raw output value is 0..OUTPUT_VALUE_MAX."""
DIMMER_MIN: Final[int] = protocol.DIMMER_MIN
"""The lowest dimmer level in percent (off)."""
DIMMER_MAX: Final[int] = protocol.DIMMER_MAX
"""The highest dimmer level in percent."""
MAX_USERNAME_LENGTH: Final[int] = protocol.MAX_USERNAME_LENGTH
"""The longest user name the login message can carry, in characters."""
MAX_PASSWORD_LENGTH: Final[int] = protocol.MAX_PASSWORD_LENGTH
"""The longest password the login message can carry, in characters."""

__all__ = [
    "DIMMER_MAX",
    "DIMMER_MIN",
    "MAX_PASSWORD_LENGTH",
    "MAX_USERNAME_LENGTH",
    "MODULE_COUNT",
    "OUTPUTS_PER_MODULE",
    "OUTPUT_VALUE_MAX",
]
