"""The soak's day profile: its arguments, its fault deck and its judgement of resources."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Mapping

import pytest

from ipcom.simulator import SentSnapshot, Simulator
from tools import soak
from tools.soak_presses import PressAudit

COUNTS = {"client.connection_listeners": 1, "simulator.sessions": 1}

DAY_SUMMARY = re.compile(
    r"soak: profile=day seconds=\d+ duration_s=\d+ polls=\d+ writes=\d+ faults=\d+ "
    r"abandoned=\d+ lost_writes=\d+ undone_presses=\d+ stale_snapshot=[01] reconnects=\d+ "
    r"longest_outage_s=\d+\.\d rss_growth_after_warmup_kb=-?\d+ threads_before=\d+ "
    r"threads_end=\d+ fds_before=\d+ fds_end=\d+ leaked_threads=\d+ errors_logged=\d+ "
    r"failures=\d+"
)


# Arguments


def test_without_a_profile_the_soak_runs_as_before() -> None:
    plan = soak.parse_arguments(["--seconds", "60", "--seed", "6"])

    assert plan.profile is soak.DEFAULT_PROFILE
    assert (plan.seconds, plan.seed) == (60, 6)
    assert plan.replay == "scripts/soak --seconds 60 --seed 6"
    assert plan.header().startswith("seed=6 seconds=60 client timing: poll_interval=0.35 ")
    assert soak.parse_arguments([]).seconds == soak.DEFAULT_SECONDS


def test_the_day_profile_runs_a_day_of_traffic() -> None:
    plan = soak.parse_arguments(["--profile", "day", "--seed", "9"])

    profile = plan.profile
    assert profile is soak.DAY_PROFILE
    assert profile.counted
    assert (profile.polls, profile.writes, profile.faults_per_kind) == (250_000, 10_000, 100)
    assert profile.faults == 100 * len(soak.FAULT_WEIGHTS)
    assert profile.timing["poll_interval"] <= 0.01
    assert plan.replay == "scripts/soak --profile day --seed 9"
    assert plan.header().startswith("profile=day seed=9 scale=1 polls=250000 writes=10000 ")


def test_a_scaled_day_keeps_at_least_one_of_everything() -> None:
    plan = soak.parse_arguments(["--profile", "day", "--scale", "0.001", "--seed", "1"])

    profile = plan.profile
    assert (profile.polls, profile.writes, profile.faults_per_kind) == (250, 10, 1)
    assert profile.limit == soak.MIN_LIMIT
    assert profile.timing == soak.DAY_TIMING
    assert plan.replay == "scripts/soak --profile day --scale 0.001 --seed 1"
    doubled = soak.DAY_PROFILE.scaled(2)
    assert (doubled.polls, doubled.faults_per_kind, doubled.limit) == (500_000, 200, 7200)


@pytest.mark.parametrize(
    "argv",
    [
        ["--profile", "day", "--seconds", "60"],
        ["--scale", "0.5"],
        ["--profile", "day", "--scale", "0"],
        ["--profile", "day", "--scale", "-1"],
        ["--profile", "day", "--scale", "nan"],
        ["--profile", "day", "--scale", "half"],
        ["--profile", "week"],
    ],
)
def test_contradictory_or_bad_arguments_are_refused(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        soak.parse_arguments(argv)

    assert exit_info.value.code == 2
    assert "scripts/soak: error:" in capsys.readouterr().err


def test_a_timed_profile_cannot_be_scaled() -> None:
    with pytest.raises(ValueError, match="runs for a time"):
        soak.DEFAULT_PROFILE.scaled(0.5)


# The judgement of resources


def sample(
    label: str,
    rss_kib: int = 40_000,
    threads: int = 6,
    descriptors: int = 9,
    counts: Mapping[str, int] | None = None,
) -> soak.ResourceSample:
    return soak.ResourceSample(
        label, 0.0, rss_kib, threads, descriptors, dict(COUNTS if counts is None else counts)
    )


def day(*replacements: soak.ResourceSample) -> list[soak.ResourceSample]:
    """A healthy run's samples, each replacement taking the place of the one of its label."""
    samples = [
        sample("before", rss_kib=30_000, threads=1, descriptors=6, counts={}),
        sample("start", rss_kib=35_000),
        *(sample(f"{tenth * 10}%") for tenth in range(1, 10)),
        sample("100%"),
        sample("end", threads=1, descriptors=6, counts={}),
    ]
    by_label = {replacement.label: replacement for replacement in replacements}
    return [by_label.get(each.label, each) for each in samples]


def test_a_healthy_day_passes_even_with_growth_during_warm_up() -> None:
    """5 MB between the start and 10 %: caches filling, not a leak."""
    assert soak.judge_resources(day()) == []


def test_memory_growth_after_warm_up_fails_from_two_mebibytes() -> None:
    assert soak.judge_resources(day(sample("100%", rss_kib=40_000 + 2047))) == []

    (failure,) = soak.judge_resources(day(sample("100%", rss_kib=40_000 + 2048)))

    assert failure.startswith("resident memory grew by 2048 KiB after warm-up (10% to 100%)")


def test_a_peak_in_between_is_not_growth() -> None:
    assert soak.judge_resources(day(sample("50%", rss_kib=48_000))) == []


def test_threads_and_descriptors_must_be_back_at_the_end() -> None:
    failures = soak.judge_resources(day(sample("end", threads=2, descriptors=7, counts={})))

    assert failures == [
        "threads: 1 at before, 2 at end",
        "open file descriptors: 6 at before, 7 at end",
    ]


def test_threads_descriptors_and_counts_must_be_back_once_settled() -> None:
    grown = {"client.connection_listeners": 2, "simulator.sessions": 1}

    failures = soak.judge_resources(day(sample("100%", threads=7, descriptors=10, counts=grown)))

    assert failures == [
        "threads: 6 at start, 7 at 100%",
        "open file descriptors: 9 at start, 10 at 100%",
        "client.connection_listeners: 1 at start, 2 at 100%",
    ]


def test_a_count_missing_once_settled_counts_as_zero() -> None:
    (failure,) = soak.judge_resources(day(sample("100%", counts={"simulator.sessions": 1})))

    assert failure == "client.connection_listeners: 1 at start, 0 at 100%"


def test_missing_samples_fail() -> None:
    samples = [each for each in day() if each.label not in ("10%", "end")]

    assert soak.judge_resources(samples) == ["no resource sample at 10%, end"]


def test_a_report_with_samples_fails_on_them_and_on_an_unfinished_day() -> None:
    report = soak.SoakReport(seconds=10, seed=1, profile="day", samples=day(), settled=True)
    assert report.failures == []
    assert DAY_SUMMARY.fullmatch(report.summary()), report.summary()
    assert " rss_growth_after_warmup_kb=0 threads_before=1 threads_end=1 " in report.summary()

    report.samples = day(sample("end", threads=3, descriptors=6, counts={}))
    report.incomplete = "the day profile's traffic was not sent within 3600 s (fraction 0.97)"

    assert report.failures == [report.incomplete, "threads: 1 at before, 3 at end"]
    assert report.summary().endswith(" failures=2")


def test_a_sample_prints_every_figure_on_one_line() -> None:
    line = soak.ResourceSample(
        "30%", 12.4, 36_448, 6, 9, {"simulator.sessions": 1}, polls=75_000, writes=3_000, faults=390
    ).line()

    assert line == (
        "sample 30% t=12s polls=75000 writes=3000 faults=390 rss_kib=36448 threads=6 "
        "open_fds=9 simulator.sessions=1"
    )


# Faults


def test_the_deck_injects_exactly_so_many_of_every_kind(simulator: Simulator) -> None:
    faults = soak.FaultInjector(simulator, random.Random("deck"), scale=0.1, per_kind=2)
    assert faults.remaining == 2 * len(soak.FAULT_WEIGHTS)

    while faults.remaining:
        faults.inject(time.monotonic())
        faults.end_all()

    assert faults.injected == dict.fromkeys(soak.FAULT_WEIGHTS, 2)
    faults.inject(time.monotonic())
    assert faults.injected.total() == 2 * len(soak.FAULT_WEIGHTS)
    assert simulator.running


def test_a_card_whose_kind_runs_waits_and_durations_are_scaled(simulator: Simulator) -> None:
    faults = soak.FaultInjector(simulator, random.Random("deck"), scale=0.1, per_kind=1)
    faults._deck = ["delay", "delay", "glue"]
    now = time.monotonic()

    faults.inject(now)
    assert faults.injected == {"glue": 1}
    faults.inject(now)
    assert 0 < simulator.reply_delay <= soak.MAX_REPLY_DELAY * 0.1
    assert faults.next_end() <= now + soak.KNOB_SECONDS[1] * 0.1
    faults.inject(now)

    assert faults.injected == {"glue": 1, "delay": 1}
    assert faults.remaining == 1
    faults.end_all()
    faults.inject(now)
    assert faults.injected == {"glue": 1, "delay": 2}
    faults.end_all()


def test_without_a_deck_the_faults_never_run_out(simulator: Simulator) -> None:
    faults = soak.FaultInjector(simulator, random.Random("faults-6"))

    assert faults.remaining is None


# The press audit's memory


def test_the_press_audit_keeps_a_bounded_memory_of_snapshots() -> None:
    """A day sends a quarter of a million snapshots over hundreds of connections."""
    audit = PressAudit(frozenset({6}), grace=0.05)
    audit.pressed(2, 1, 255, before=0.5, after=0.6)
    for index in range(20_000):
        at = 1.0 + index * 0.005
        audit.snapshot_sent(SentSnapshot(taken_at=at, sent_at=at, connection=index // 10))

    assert audit.retained < 4_000
    assert audit.undone == []


# One small day, end to end


def test_a_small_day_passes_and_prints_every_sample(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """500 polls, 20 writes and one fault of every kind: about ten seconds."""
    code = soak.main(["--profile", "day", "--scale", "0.002", "--seed", "3"])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0, "\n".join(lines)
    assert lines[0].startswith("soak: profile=day seed=3 scale=0.002 polls=500 writes=20 ")
    labels = [line.split()[2] for line in lines if line.startswith("soak: sample ")]
    assert labels == ["before", "start", *(f"{tenth}0%" for tenth in range(1, 10)), "100%", "end"]
    assert "soak: replay with: scripts/soak --profile day --scale 0.002 --seed 3" in lines
    assert DAY_SUMMARY.fullmatch(lines[-1]), lines[-1]
    assert " writes=20 faults=13 " in lines[-1]
    assert " lost_writes=0 undone_presses=0 " in lines[-1]
    assert lines[-1].endswith(" failures=0")
