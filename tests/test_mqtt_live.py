"""``hipthrust demo --publish`` end to end with a real mosquitto: live events, the retained
summary, a broker that is down (summary kept in the outbox, then ``sync``), and the flags.

The command runs in-process through ``sensor.cli.main`` in a worker thread (it calls
``asyncio.run``) while the test's own loop runs an MQTT observer.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import aiomqtt
import pytest
from blockbuster import BlockBuster
from mosquitto_broker import Mosquitto
from mqtt_docs import make_doc
from mqtt_helpers import last_message_per_topic, make_config, messages_until_quiet

from sensor import cli
from sensor.config import Config, load_config
from sensor.mqtt_publish import Backoff, MqttSink, make_client
from sensor.recording import write_recording
from sensor.simulate import simulate_session
from sensor.store import SummaryStore
from sensor.summary import Mount

Main = Callable[[Sequence[str] | None], int]
REPS_PER_SET = (3, 4)


@pytest.fixture(scope="module")
def short_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short clean hip session (2 sets of 3 and 4 reps, 50 Hz, gyro), for a fast demo."""
    samples, _ = simulate_session(
        7, mount=Mount.HIP, rate_hz=50.0, with_gyro=True, n_sets=2, reps_per_set=REPS_PER_SET,
        nuisances=False, rest_s=(10.0, 11.0), drop_rate=0.0, pause_s=None, weak_leg=None,
        weak_factors={},
    )
    path = tmp_path_factory.mktemp("rec") / "short.csv"
    write_recording(path, samples)
    return path


@pytest.fixture
def hipthrust(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Main:
    """``hipthrust ARGS`` in-process (the real ``cli.main``), with private user folders."""
    for var in ("HIPTHRUST_BROKER", "HIPTHRUST_MQTT_USERNAME", "HIPTHRUST_MQTT_PASSWORD",
                "HIPTHRUST_MQTT_PASSWORD_FILE", "HIPTHRUST_CONFIG", "HIPTHRUST_DATA_DIR",
                "HIPTHRUST_TOPIC_PREFIX", "HIPTHRUST_DEVICE_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    return cli.main


def broker_args(monkeypatch: pytest.MonkeyPatch, broker: Mosquitto) -> tuple[list[str], Config]:
    """The password in the environment, the rest as flags (default topic prefix, a fresh
    device id); and the same settings as a ``Config`` for the observer."""
    monkeypatch.setenv("HIPTHRUST_MQTT_USERNAME", broker.username)
    monkeypatch.setenv("HIPTHRUST_MQTT_PASSWORD", broker.password)
    device = f"gym{uuid.uuid4().hex[:8]}"
    args = ["--broker", broker.url, "--device-id", device]
    cfg = load_config({"broker": broker.url, "device_id": device})
    return args, cfg


async def run_cli(main: Main, argv: list[str]) -> int:
    return await asyncio.to_thread(main, argv)


def store_of(tmp_path: Path) -> SummaryStore:
    return SummaryStore(tmp_path / "xdg-data" / "hipthrust" / "summaries.sqlite3")


async def retained(cfg: Config, topic_filter: str) -> dict[str, aiomqtt.Message]:
    async with make_client(cfg, role="check") as client:
        await client.subscribe(topic_filter, qos=1)
        return await last_message_per_topic(client, 0.5)


async def test_demo_publishes_live_events_and_the_retained_summary(
    *, mosquitto: Mosquitto, short_recording: Path, hipthrust: Main, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    args, cfg = broker_args(monkeypatch, mosquitto)
    base = f"hipthrust/{cfg.device_id}"
    async with make_client(cfg, role="observer") as observer:
        await observer.subscribe("hipthrust/#", qos=1)
        code = await run_cli(hipthrust, ["demo", "--replay", str(short_recording), "--json",
                                         "--publish", *args])
        seen = [m for m in await messages_until_quiet(observer, 0.5)
                if m.topic.value.startswith(base + "/")]
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)  # stdout holds only the summary document
    assert [s["rep_count"] for s in doc["sets"]] == list(REPS_PER_SET)

    events = [json.loads(m.payload) for m in seen if "/events/" in m.topic.value]
    assert all(m.qos == 0 and not m.retain for m in seen if "/events/" in m.topic.value)
    reps = [e for e in events if e["type"] == "rep"]
    sets = [e for e in events if e["type"] == "set"]
    assert len(reps) == doc["rep_count"] == sum(REPS_PER_SET)
    assert [e["set_index"] for e in sets] == [0, 1]
    lockouts = [e for e in events if e["type"] == "lockout"]
    assert lockouts
    # (how many the live lockout detector reports is its own tests' business)
    assert all(set(e) >= {"t_s", "set_index", "rep_index", "leg"} for e in lockouts)
    # every event went out before the summary, on the same connection
    session_topic = f"{base}/sessions/{doc['session_id']}"
    topics = [m.topic.value for m in seen]
    assert topics.index(session_topic) > max(
        i for i, t in enumerate(topics) if "/events/" in t)

    kept = await retained(cfg, f"{base}/#")
    assert json.loads(kept[session_topic].payload) == doc
    assert kept[session_topic].retain
    assert json.loads(kept[f"{base}/latest"].payload)["session_id"] == doc["session_id"]
    assert kept[f"{base}/status"].payload == b"offline"  # said on the clean exit
    assert not any("/events/" in t for t in kept)  # events are not retained

    mqtt_lines = [line for line in err.splitlines() if "mqtt://" in line]
    assert mqtt_lines == [f"published to {mosquitto.url}: {len(events)} live event(s) and the "
                          f"summary of session {doc['session_id']}"]
    assert store_of(tmp_path).is_sent(doc["session_id"]) is True


async def test_broker_down_keeps_the_summary_then_sync_delivers_it(
    *, mosquitto_fn: Mosquitto, short_recording: Path, hipthrust: Main, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    args, cfg = broker_args(monkeypatch, mosquitto_fn)
    await asyncio.to_thread(mosquitto_fn.stop)
    code = await run_cli(hipthrust, ["demo", "--replay", str(short_recording), "--json",
                                     "--publish", *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    assert doc["rep_count"] == sum(REPS_PER_SET)
    broker_lines = [line for line in err.splitlines() if "broker" in line]
    assert len(broker_lines) == 1, err
    assert f"cannot reach broker {mosquitto_fn.url}" in broker_lines[0]
    assert "kept in the outbox (1 pending)" in broker_lines[0]
    assert "hipthrust sync" in broker_lines[0]
    store = store_of(tmp_path)
    assert [d["session_id"] for d in store.documents()] == [doc["session_id"]]
    assert store.is_sent(doc["session_id"]) is False

    await asyncio.to_thread(mosquitto_fn.start)
    assert await run_cli(hipthrust, ["sync", *args]) == 0
    assert "sent 1 summary(ies)" in capsys.readouterr().out
    assert store.is_sent(doc["session_id"]) is True
    session_topic = f"hipthrust/{cfg.device_id}/sessions/{doc['session_id']}"
    kept = await retained(cfg, session_topic)
    assert json.loads(kept[session_topic].payload) == doc


def test_broker_flags_need_publish(hipthrust: Main, short_recording: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert hipthrust(["demo", "--replay", str(short_recording),
                      "--broker", "mqtt://127.0.0.1:1"]) == 2
    assert "hipthrust: --broker is only used with --publish" in capsys.readouterr().err
    assert hipthrust(["record", "--virtual", "--topic-prefix", "x"]) == 2
    assert "--topic-prefix is only used with --publish" in capsys.readouterr().err
    assert hipthrust(["demo", "--publish", "--broker", "http://x"]) == 2
    assert "use mqtt://host:port" in capsys.readouterr().err


def test_publish_without_a_broker_stores_the_summary(
    hipthrust: Main, short_recording: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert hipthrust(["demo", "--replay", str(short_recording), "--json", "--publish"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert "stored 1 summary(ies) locally; no broker configured (1 waiting" in err
    store = store_of(tmp_path)
    assert store.documents() == [doc]
    assert store.is_sent(doc["session_id"]) is False


async def test_sink_exit_retries_at_once_and_gives_up_at_a_refusal(
        mosquitto_fn: Mosquitto, tmp_path: Path, no_blocking: BlockBuster) -> None:
    """The end of a session does not wait out the backoff, nor the exit timeout."""
    cfg = make_config(mosquitto_fn, tmp_path)
    await asyncio.to_thread(mosquitto_fn.stop)
    slow = Backoff(initial_s=600.0, max_s=600.0)
    async with asyncio.timeout(30):  # far below the backoff and the exit timeout
        sink = MqttSink(cfg, backoff=slow, exit_timeout_s=600.0)
        async with sink:
            assert not await sink.wait_connected(600.0, until_failure=True)
            assert sink.last_error is not None
            assert "Connection refused" in sink.last_error
            await sink.publish_summary(make_doc("down-1"))
        assert await asyncio.to_thread(sink.store.is_sent, "down-1") is False

        sink = MqttSink(cfg, backoff=slow, exit_timeout_s=600.0)
        async with sink:
            assert not await sink.wait_connected(600.0, until_failure=True)
            await sink.publish_summary(make_doc("down-2"))
            await asyncio.to_thread(mosquitto_fn.start)  # back while the sink waits 600 s
        assert await asyncio.to_thread(sink.store.is_sent, "down-1") is True
        assert await asyncio.to_thread(sink.store.is_sent, "down-2") is True
        assert sink.connections == 1
