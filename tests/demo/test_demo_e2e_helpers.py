"""Helpers of the end-to-end test that need no running demo."""

from __future__ import annotations

from pathlib import Path

from demo.e2e import SimulatorLog

_STAMP = "2026-12-07 12:57:57,839 INFO ipcom.simulator:"
_LOCAL = "at the local address"
_BEFORE = (
    f"{_STAMP} Client 127.0.0.1:38402 connected as 'demo' to bus 1 {_LOCAL}\n"
    f"{_STAMP} Client 127.0.0.1:38418 connected as 'demo' to bus 2 {_LOCAL}\n"
)
_AFTER = (
    f"{_STAMP.replace('INFO', 'DEBUG')} Connection from 127.0.0.1:59316\n"
    f"{_STAMP} Client 127.0.0.1:59316 connected as 'demo' to bus 1 {_LOCAL}, without the cipher\n"
    f"{_STAMP} Set outputs of module 1 on bus 1\n"
    f"{_STAMP} Connection from 127.0.0.1:38402 closed\n"
)


def test_simulator_log_counts_only_what_follows_the_mark(tmp_path: Path) -> None:
    path = tmp_path / "simulator.log"
    path.write_text(_BEFORE, encoding="utf-8")
    log = SimulatorLog(path)
    mark = log.mark()
    assert log.connections_since(mark) == ([], [])
    with path.open("a", encoding="utf-8") as file:
        file.write(_AFTER)
    assert log.connections_since(mark) == (["127.0.0.1:59316"], ["127.0.0.1:38402"])
    assert log.connections_since(0) == (
        ["127.0.0.1:38402", "127.0.0.1:38418", "127.0.0.1:59316"],
        ["127.0.0.1:38402"],
    )
