"""The bench's two-bus mode prints every figure; how good the figures are is not tested here."""

from __future__ import annotations

import re

import pytest

from tools import bench

JUDGED = r" \(target [^)]+\) (ok|MISSED)"

TWO_BUS_LINES = [
    re.compile(pattern)
    for pattern in (
        r"polls per second \(bus 1\): \d+\.\d\d" + JUDGED,
        r"polls per second \(bus 2\): \d+\.\d\d" + JUDGED,
        r"command latency call->simulator p50/p95/max \(bus 1\): [\d./]+ ms" + JUDGED,
        r"command latency call->simulator p50/p95/max \(bus 2\): [\d./]+ ms" + JUDGED,
        r"state latency press->callback p50/p95 \(bus 1\): \d+/\d+ ms" + JUDGED,
        r"state latency press->callback p50/p95 \(bus 2\): \d+/\d+ ms" + JUDGED,
        r"idle CPU of the 2 clients over \d+ s: \d+\.\d\d % of one core per bus "
        r"\(\d+\.\d\d % in all\)" + JUDGED,
        r"resident memory and threads per extra bus: \+-?\d+ KiB, \+-?\d+ threads "
        r"\(-?\d+ of them the client's\) \(measured\)",
        r"bench: \d of 7 figures within target",
    )
]


def fewest(self: bench.Bench, quick: float, full: float) -> float:
    """Two samples of each kind, two seconds of idling: enough to print every figure."""
    return min(quick, 2)


def test_two_buses_print_every_figure_in_order(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench.Bench, "samples", fewest)

    code = bench.main(["--quick", "--buses", "2"])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0, "\n".join(lines)
    assert len(lines) == len(TWO_BUS_LINES), "\n".join(lines)
    for pattern, line in zip(TWO_BUS_LINES, lines, strict=True):
        assert pattern.fullmatch(line), line
