"""How a value from the account service appears in a message: its repr, cut short.

Names and codes from the service go into exception texts and import
warnings; a long or odd one is shortened and quoted, so a message stays one
readable line.
"""

from __future__ import annotations

import reprlib
from typing import Final

_SHOWN: Final = reprlib.Repr(maxstring=60, maxother=60)


def shown(value: object) -> str:
    return _SHOWN.repr(value)
