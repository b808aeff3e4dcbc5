"""`vol`: the schema library Home Assistant validates with, typed as the newest release has it.

Home Assistant 2026.9 replaced voluptuous with probatio, a reimplementation of
its API, and installs probatio's voluptuous surface under the name
`voluptuous` before any integration is imported
(`probatio.compat.install_as_voluptuous` in `homeassistant/__init__.py`).
So at run time `import voluptuous` always gives the library whose schemas
Home Assistant's flows and services take: voluptuous itself up to 2026.8,
probatio from 2026.9. The forms and service schemas are built from it.

A type checker cannot see that alias: it reads the installed voluptuous
package (other packages still depend on it), whose `Schema` is not the
`probatio.Schema` Home Assistant 2026.10 declares in its signatures. So the
checker is shown probatio where it is installed: the newest Home Assistant,
which checks the schemas against the library they run on. Where it is not
(before 2026.9), pyproject.toml lets the import be missing and `vol` is not
checked there; the rest of the integration is.

Only voluptuous's names may be used through `vol`: probatio's own additions
type-check but are not in the alias, and voluptuous itself lacks them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import probatio as vol
else:
    import voluptuous as vol

__all__ = ["vol"]
