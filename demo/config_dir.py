"""The demo's Home Assistant configuration directory: built once, refreshed on every start.

What can be written as files is written here: configuration.yaml from the template, the device
map, the dashboard, and onboarding marked done for every step except the owner account (which
Home Assistant has to create itself, through its API). The directory is never in git and is
rebuilt from scratch when it is missing.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import string
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

TEMPLATES = Path(__file__).parent / "templates"

DASHBOARD_URL = "ipcom-demo"
DASHBOARD_TITLE = "IPCom demo"
DASHBOARD_FILE = "dashboards/ipcom-demo.yaml"
DEVICES_FILE = "ipcom/devices.yaml"
SECOND_BUS_TYPE = "bibus"
"""The demo house's bus 2 (the garden house in devices.yaml) is a BiBus: its modules start at 30."""

# Onboarding steps that need no account. `core_config` is deliberately not finished through the
# API: doing so sets up integrations that want the internet.
_ONBOARDING_DONE_BY_FILE = ["core_config", "analytics", "integration"]
_ONBOARDING_STORAGE_VERSION = 4

_STATE_FILE = "ipcom-demo.json"
_OWNER_PASSWORD_FILE = ".owner-password"


@dataclass
class DemoState:
    """What the demo remembers between runs about the installation it set up."""

    simulator_port: int | None = None
    entry_id: str | None = None


class ConfigDir:
    """One Home Assistant configuration directory managed by the demo."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def built(self) -> bool:
        """Whether the directory holds a configuration the demo built earlier."""
        return (self.path / _STATE_FILE).is_file()

    @property
    def hass_log(self) -> Path:
        """Home Assistant's own log file."""
        return self.path / "home-assistant.log"

    @property
    def devices_file(self) -> Path:
        """Where the integration reads the device map (its default location)."""
        return self.path / DEVICES_FILE

    def build(self) -> None:
        """Start from nothing: an empty directory with onboarding done except the owner."""
        if self.path.exists():
            shutil.rmtree(self.path)
        (self.path / ".storage").mkdir(parents=True)
        onboarding = {
            "version": _ONBOARDING_STORAGE_VERSION,
            "minor_version": 1,
            "key": "onboarding",
            "data": {"done": _ONBOARDING_DONE_BY_FILE},
        }
        _write_text(self.path / ".storage" / "onboarding", json.dumps(onboarding, indent=2))
        self.save_state(DemoState())

    def refresh(self, hass_port: int, devices_source: Path, integration_source: Path) -> None:
        """Write what follows the repository: configuration.yaml, the device map, the integration.

        The integration is linked, not copied, so a restart of Home Assistant runs the code as
        it is in the working tree.
        """
        link = self.path / "custom_components" / integration_source.name
        if not (link.is_symlink() and link.resolve() == integration_source.resolve()):
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(integration_source.resolve(), target_is_directory=True)
        template = string.Template((TEMPLATES / "configuration.yaml").read_text(encoding="utf-8"))
        configuration = template.substitute(
            hass_port=hass_port,
            dashboard_url=DASHBOARD_URL,
            dashboard_file=DASHBOARD_FILE,
            dashboard_title=DASHBOARD_TITLE,
        )
        _write_if_changed(self.path / "configuration.yaml", configuration)
        _write_if_changed(self.devices_file, devices_source.read_text(encoding="utf-8"))
        if not (self.path / DASHBOARD_FILE).exists():
            # Until the integration has registered its entities, say so rather than show an
            # error about a missing file.
            self.write_dashboard(
                {
                    "title": DASHBOARD_TITLE,
                    "views": [
                        {
                            "title": "Home",
                            "path": "home",
                            "cards": [
                                {
                                    "type": "markdown",
                                    "content": "The demo is still setting up IPCom.",
                                }
                            ],
                        }
                    ],
                }
            )

    def write_dashboard(self, dashboard: dict[str, Any]) -> bool:
        """Write the dashboard YAML; return whether it changed."""
        text = "# Written by scripts/demo from what Home Assistant registered.\n" + yaml.safe_dump(
            dashboard, sort_keys=False, allow_unicode=True
        )
        return _write_if_changed(self.path / DASHBOARD_FILE, text)

    def owner_password(self) -> str:
        """The owner account's password, made up once and kept in the directory (mode 600).

        Nobody needs to type it: the trusted-networks provider logs this machine in. It exists
        because Home Assistant's owner account must have one.
        """
        path = self.path / _OWNER_PASSWORD_FILE
        if not path.exists():
            _write_text(path, secrets.token_urlsafe(18), mode=0o600)
        return path.read_text(encoding="utf-8").strip()

    @property
    def owner_password_file(self) -> Path:
        """Where the owner's password is kept."""
        return self.path / _OWNER_PASSWORD_FILE

    def load_state(self) -> DemoState:
        """What the previous run set up (an empty state for a directory built before)."""
        try:
            data = json.loads((self.path / _STATE_FILE).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return DemoState()
        return DemoState(simulator_port=data.get("simulator_port"), entry_id=data.get("entry_id"))

    def save_state(self, state: DemoState) -> None:
        """Remember what this run set up."""
        _write_text(self.path / _STATE_FILE, json.dumps(asdict(state), indent=2))


def _write_text(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w") as file:
        file.write(text if text.endswith("\n") else f"{text}\n")
    temporary.replace(path)


def _write_if_changed(path: Path, text: str) -> bool:
    if not text.endswith("\n"):
        text = f"{text}\n"
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    _write_text(path, text)
    return True
