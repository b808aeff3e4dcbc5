"""The demo's configuration directory: built once, refreshed on every start."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import yaml

from demo.config_dir import DASHBOARD_FILE, DASHBOARD_URL, ConfigDir, DemoState


def _sources(tmp_path: Path) -> tuple[Path, Path]:
    devices = tmp_path / "devices.yaml"
    devices.write_text("lights: {}\n", encoding="utf-8")
    integration = tmp_path / "src" / "ipcom"
    integration.mkdir(parents=True)
    return devices, integration


def test_build_marks_onboarding_done_except_the_owner(tmp_path: Path) -> None:
    config = ConfigDir(tmp_path / "config")
    assert not config.built
    config.build()
    assert config.built
    onboarding = json.loads((config.path / ".storage" / "onboarding").read_text())
    assert onboarding["key"] == "onboarding"
    assert sorted(onboarding["data"]["done"]) == ["analytics", "core_config", "integration"]
    assert config.load_state() == DemoState()


def test_build_starts_from_nothing(tmp_path: Path) -> None:
    config = ConfigDir(tmp_path / "config")
    config.build()
    (config.path / "leftover").write_text("x")
    config.build()
    assert not (config.path / "leftover").exists()


def test_refresh_writes_configuration_devices_and_links_the_integration(tmp_path: Path) -> None:
    devices, integration = _sources(tmp_path)
    config = ConfigDir(tmp_path / "config")
    config.build()
    config.refresh(8124, devices, integration)
    configuration = (config.path / "configuration.yaml").read_text()
    assert "server_port: 8124" in configuration
    assert "server_host: 127.0.0.1" in configuration
    assert "default_config" not in configuration.replace("`default_config:`", "")
    assert f"{DASHBOARD_URL}:" in configuration
    assert config.devices_file.read_text() == "lights: {}\n"
    link = config.path / "custom_components" / "ipcom"
    assert link.is_symlink()
    assert link.resolve() == integration.resolve()
    placeholder = yaml.safe_load((config.path / DASHBOARD_FILE).read_text())
    assert placeholder["views"][0]["cards"][0]["type"] == "markdown"


def test_refresh_keeps_a_written_dashboard_and_relinks(tmp_path: Path) -> None:
    devices, integration = _sources(tmp_path)
    config = ConfigDir(tmp_path / "config")
    config.build()
    config.refresh(8123, devices, integration)
    assert config.write_dashboard({"title": "T", "views": []})
    assert not config.write_dashboard({"title": "T", "views": []})
    moved = tmp_path / "elsewhere" / "ipcom"
    moved.mkdir(parents=True)
    config.refresh(8123, devices, moved)
    assert yaml.safe_load((config.path / DASHBOARD_FILE).read_text())["title"] == "T"
    assert (config.path / "custom_components" / "ipcom").resolve() == moved.resolve()


def test_state_and_owner_password_survive_between_runs(tmp_path: Path) -> None:
    config = ConfigDir(tmp_path / "config")
    config.build()
    config.save_state(DemoState(simulator_port=5001, entry_id="abc"))
    password = config.owner_password()
    again = ConfigDir(tmp_path / "config")
    assert again.load_state() == DemoState(simulator_port=5001, entry_id="abc")
    assert again.owner_password() == password
    assert len(password) >= 20
    assert stat.S_IMODE(config.owner_password_file.stat().st_mode) == 0o600
