"""End to end over the virtual link: virtual sensor (Bumble) -> bleak -> decoder -> recording
-> live engine -> events and summary, compared with ``analyze`` on the file and with the
simulator's truth. Also the record/demo commands, sinks, and the recording precision.
"""

from __future__ import annotations

import asyncio
import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sensor.cli import main
from sensor.engine import AnalysisOptions
from sensor.events import Event, LinkBack, LinkLost, LockoutReached, SetDone
from sensor.live import LiveSession, VirtualRun, as_written, stream_virtual
from sensor.pipeline import analyze_file
from sensor.recording import format_rows, parse_recording, read_recording, write_recording
from sensor.samples import Samples
from sensor.simulate import simulate_session
from sensor.summary import Mount, to_dict


@cache
def session(seed: int = 3) -> tuple[Samples, dict[str, Any]]:
    """A short clean hip session: 2 sets (5 and 6 reps) at 50 Hz with gyro, ~80 s."""
    return simulate_session(
        seed, mount=Mount.HIP, rate_hz=50.0, with_gyro=True, n_sets=2, reps_per_set=(5, 6),
        nuisances=False, rest_s=(15.0, 16.0), drop_rate=0.0, pause_s=None, weak_leg=None,
        weak_factors={},
    )


def stream(tmp_path: Path, **kw: Any) -> tuple[VirtualRun, LiveSession]:
    samples, _ = session()
    live = LiveSession(tmp_path / "live.csv", AnalysisOptions())
    run = asyncio.run(asyncio.wait_for(stream_virtual(samples, live, **kw), 60))
    return run, live


def truth_counts() -> list[int]:
    return [s["rep_count"] for s in session()[1]["sets"]]


def test_streamed_summary_equals_analyze_on_the_file(tmp_path: Path) -> None:
    run, live = stream(tmp_path)
    res = run.result
    # Nothing excluded: same session id (from the file header), same source name, same reps.
    assert to_dict(res.summary) == to_dict(analyze_file(res.path))
    assert [s.rep_count for s in res.summary.sets] == truth_counts()
    assert read_recording(res.path).metadata["session_id"] == res.session_id
    assert res.link.lost_packets == 0
    # every sample played is recorded (the virtual sensor leaves out duplicated timestamps)
    assert res.samples_written == sum(b - a for a, b in run.sent_ranges)
    assert len(session()[0]) - res.samples_written < 0.005 * len(session()[0])
    # live events: a lockout for every rep, and both sets closed
    lockouts = [e for e in live.events if isinstance(e, LockoutReached)]
    assert len(lockouts) == sum(truth_counts())
    assert [e.set.rep_count for e in live.events if isinstance(e, SetDone)] == truth_counts()


def test_two_percent_packet_loss_is_reported_and_reps_still_count(tmp_path: Path) -> None:
    run, _ = stream(tmp_path, drop_rate=0.02, seed=5)
    res = run.result
    assert run.sensor_packets_dropped > 0
    assert res.link.lost_packets == run.sensor_packets_dropped
    expected_pct = 100 * run.sensor_packets_dropped / (run.sensor_packets_sent
                                                        + run.sensor_packets_dropped)
    assert res.link.loss_pct == pytest.approx(expected_pct)
    assert [s.rep_count for s in res.summary.sets] == truth_counts()
    assert to_dict(res.summary) == to_dict(analyze_file(res.path))


def test_link_dropped_mid_set_reconnects_and_carries_on(tmp_path: Path) -> None:
    samples, truth = session()
    t0 = float(samples.t_s[0])
    mid = float(truth["sets"][0]["reps"][2]["t_lockout"]) - t0  # during set 1's 3rd rep
    run, live = stream(tmp_path, disconnect_at_s=mid)
    res = run.result
    kinds = [type(e) for e in live.events if isinstance(e, LinkLost | LinkBack)]
    assert kinds == [LinkLost, LinkBack]
    assert res.link.disconnects == 1
    assert res.link.reconnects == 1
    back = next(e for e in live.events if isinstance(e, LinkBack))
    assert back.lost_packets == run.sensor_packets_lost_offline > 0
    # every sample sent is in the file, once, in order: only those sent while down are lost
    sent = np.concatenate([np.arange(a, b) for a, b in run.sent_ranges])
    recorded = read_recording(res.path)
    assert len(recorded) == sent.size == res.samples_written
    played = run.played
    # a packet carries one start time and one interval: the sensor's jitter is smoothed out
    assert np.allclose(recorded.t_s, played.t_s[sent] - t0, atol=2e-3)
    assert np.allclose(recorded.acc_g, played.acc_g[sent], atol=16 / 32768)
    # the session carried on in the same file: the second set is whole
    assert res.summary.sets[-1].rep_count == truth_counts()[-1]
    assert to_dict(res.summary) == to_dict(analyze_file(res.path))


def test_record_writes_a_file_that_analyze_reads_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rec.csv"
    assert main(["record", "--virtual", "--speed", "0", "--seed", "58", "--out", str(out),
                 "--json", "--pause", "3"]) == 0
    live_doc = json.loads(capsys.readouterr().out)
    assert main(["analyze", str(out), "--json", "--pause", "3"]) == 0
    file_doc = json.loads(capsys.readouterr().out)
    assert live_doc == file_doc
    meta = read_recording(out).metadata
    assert meta["session_id"] == live_doc["session_id"]
    assert meta["sensor"].startswith("hipthrust-")
    assert float(meta["fs"]) == pytest.approx(100.0, rel=0.05)
    _, truth = simulate_session(58)
    assert [s["rep_count"] for s in live_doc["sets"]] == [s["rep_count"] for s in truth["sets"]]


def test_demo_json_prints_only_the_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = tmp_path / "short.csv"
    write_recording(rec, session()[0])
    assert main(["demo", "--replay", str(rec), "--json", "--drop-rate", "0.02"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # nothing else on stdout
    assert [s["rep_count"] for s in doc["sets"]] == truth_counts()
    assert "lost" in captured.err


def test_demo_rejects_a_bad_drop_rate(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--drop-rate", "1.5"])
    assert "must be in [0, 1)" in capsys.readouterr().err


class RecordingSink:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[Event] = []
        self.summaries: list[dict[str, Any]] = []
        self.fail = fail

    async def publish_event(self, event: Event) -> bool:
        if self.fail:
            raise ConnectionError("broker down")
        self.events.append(event)
        return True

    async def publish_summary(self, doc: dict[str, Any]) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.summaries.append(doc)


def test_sinks_get_every_event_and_the_summary_and_a_failing_sink_is_harmless(
    tmp_path: Path,
) -> None:
    good, bad = RecordingSink(), RecordingSink(fail=True)
    live = LiveSession(tmp_path / "s.csv", sinks=[bad, good])
    run = asyncio.run(asyncio.wait_for(stream_virtual(session()[0], live), 60))
    assert good.events == live.events
    assert good.summaries == [to_dict(run.result.summary)]
    assert live.sink_errors == len(live.events) + 1


def test_garbage_packets_are_counted_not_recorded(tmp_path: Path) -> None:
    live = LiveSession(tmp_path / "g.csv")
    assert live.feed_packet(b"\x00\x01garbage") == []
    assert live.link.garbage_packets == 1
    assert live.samples_written == 0


finite = st.floats(-16.0, 16.0, allow_nan=False, width=64)
N_ROWS = 20  # the reader wants at least 20 samples


@settings(max_examples=30, deadline=None)
@given(
    t0=st.floats(0, 5000, allow_nan=False),
    dt=arrays(np.float64, N_ROWS, elements=st.floats(0.003, 0.07, allow_nan=False)),
    acc=arrays(np.float64, (N_ROWS, 3), elements=finite),
    gyro=arrays(np.float64, (N_ROWS, 3), elements=st.floats(-2000, 2000, allow_nan=False)),
)
def test_as_written_is_what_the_file_holds(t0: float, dt: Any, acc: Any, gyro: Any) -> None:
    block = Samples(t0 + np.cumsum(dt), acc, gyro)
    w = as_written(block)
    assert format_rows(w) == format_rows(block)  # writing the rounded block: the same text
    back = parse_recording("t,ax,ay,az,gx,gy,gz\n" + format_rows(w))
    assert np.array_equal(back.t_s, w.t_s)
    assert np.array_equal(back.acc_g, w.acc_g)
    assert back.gyro_dps is not None
    assert np.array_equal(back.gyro_dps, w.gyro_dps)
