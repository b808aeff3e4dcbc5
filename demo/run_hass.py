"""Start Home Assistant with the interpreter that runs this file.

Home Assistant 2026.2 refuses Python older than 3.13.2 before it parses its arguments. It runs
fine on 3.13.0 and 3.13.1, which some distributions still ship, so on those this launcher skips
that one check (and says so); on 3.13.2 and newer it changes nothing. Every argument is passed to
Home Assistant unchanged.
"""

import sys

from homeassistant import __main__ as hass_main
from homeassistant.const import REQUIRED_PYTHON_VER


def main() -> int:
    """Run Home Assistant's own entry point, past the version check if needed."""
    if sys.version_info[:3] < REQUIRED_PYTHON_VER:
        required = ".".join(str(part) for part in REQUIRED_PYTHON_VER)
        running = ".".join(str(part) for part in sys.version_info[:3])
        print(
            f"run_hass: Python {running} is older than the {required} Home Assistant asks for; "
            "skipping only that version check.",
            file=sys.stderr,
            flush=True,
        )
        hass_main.validate_python = lambda: None
    return hass_main.main()


if __name__ == "__main__":
    sys.exit(main())
