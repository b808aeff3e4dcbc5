"""Finding an old `ipcom` package that hides the `ipcom` library.

The other IPCom integration's first releases were installed by copying a
Python package `ipcom/` (with an `__init__.py`) into the configuration
directory, next to the `devices.yaml` this integration reads there too.
Home Assistant's working directory, and while it loads custom integrations
its path, include the configuration directory, so `import ipcom` finds that
package before the library and every import from the library fails.

Nothing here imports the library: this module is what still works when it
cannot be imported.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN, ISSUE_SHADOWING_PACKAGE

_LOGGER = logging.getLogger(__name__)

LIBRARY_MODULE = "devices.py"
"""A module every release of the library has and the old package never had."""


def find_shadowing_package() -> Path | None:
    """The `__init__.py` of the `ipcom` package Python imports, unless it is the library.

    Blocking (it looks at the file system): run it in the executor.
    """
    module = sys.modules.get("ipcom")
    if module is not None:
        origin = getattr(module, "__file__", None)
    else:
        spec = importlib.util.find_spec("ipcom")
        origin = spec.origin if spec is not None else None
    if not origin:
        return None
    init = Path(origin)
    if (init.parent / LIBRARY_MODULE).is_file():
        return None
    return init


async def async_check_library(hass: HomeAssistant) -> bool:
    """Whether the library can be imported; if not, a repair issue names the file to delete."""
    shadowing = await hass.async_add_executor_job(find_shadowing_package)
    if shadowing is None:
        ir.async_delete_issue(hass, DOMAIN, ISSUE_SHADOWING_PACKAGE)
        return True
    _async_report(hass, shadowing)
    return False


@callback
def _async_report(hass: HomeAssistant, shadowing: Path) -> None:
    ir.async_create_issue(
        hass,
        DOMAIN,
        ISSUE_SHADOWING_PACKAGE,
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_SHADOWING_PACKAGE,
        translation_placeholders={"folder": str(shadowing.parent), "file": str(shadowing)},
    )
    _LOGGER.error(
        "%s hides the ipcom library; delete it and the Python files next to it "
        "(keep devices.yaml), then restart Home Assistant",
        shadowing,
    )
