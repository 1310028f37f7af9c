"""Publishing summaries, the outbox, availability and faults, against a real mosquitto."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import aiomqtt
from blockbuster import BlockBuster
from mosquitto_broker import Mosquitto
from mqtt_docs import make_doc, make_rep
from mqtt_helpers import last_message_per_topic, make_config, messages_until_quiet

from sensor.config import Config, load_config
from sensor.events import RepDone
from sensor.mqtt_publish import (
    Backoff,
    MqttSink,
    publish_summaries_async,
    sync_outbox,
    topics_for,
)
from sensor.mqtt_review import collect_summaries
from sensor.store import SummaryStore
from sensor.summary import Leg

FAST = Backoff(initial_s=0.05, max_s=0.3)
REPO_ROOT = Path(__file__).resolve().parents[1]


def test_backoff_doubles_caps_and_resets() -> None:
    b = Backoff(initial_s=1.0, max_s=4.0, jitter=0.0)
    assert [b.next_delay_s() for _ in range(5)] == [1.0, 2.0, 4.0, 4.0, 4.0]
    b.reset()
    assert b.next_delay_s() == 1.0


def test_backoff_jitter_stretches_within_the_fraction_and_never_past_the_cap() -> None:
    b = Backoff(initial_s=1.0, max_s=3.0, jitter=0.2)
    first, second, third = (b.next_delay_s() for _ in range(3))
    assert 1.0 <= first <= 1.2
    assert 2.0 <= second <= 2.4
    assert third == 3.0


async def read_retained(cfg: Config, topic_filter: str, *, quiet_s: float = 0.5,
                        ) -> dict[str, aiomqtt.Message]:
    """Every message the broker delivers on ``topic_filter`` until it is quiet."""
    from sensor.mqtt_publish import make_client  # noqa: PLC0415 - keep the test's imports short

    async with make_client(cfg, role="observer") as client:
        await client.subscribe(topic_filter, qos=1)
        return await last_message_per_topic(client, quiet_s)


async def test_publish_then_review_over_tls(mosquitto: Mosquitto, tmp_path: Path,
                                            no_blocking: BlockBuster) -> None:
    cfg = make_config(mosquitto, tmp_path, tls=True)
    docs = [make_doc("2024-05-01-a"), make_doc("2024-05-02-b", left_hold_s=3.0)]
    report = await publish_summaries_async(docs, cfg)
    assert (report.stored, report.sent, report.pending, report.error) == (2, 2, 0, None)

    collected = await collect_summaries(cfg)
    assert collected.ignored == 0
    assert collected.documents == {d["session_id"]: d for d in docs}

    topics = topics_for(cfg)
    retained = await read_retained(cfg, f"{topics.base}/#")
    assert set(retained) == {topics.session("2024-05-01-a"), topics.session("2024-05-02-b"),
                             topics.latest}
    for message in retained.values():
        assert message.retain
        assert message.qos == 1
    assert json.loads(retained[topics.latest].payload) == docs[1]


async def test_republishing_is_harmless(mosquitto: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(mosquitto, tmp_path)
    doc = make_doc("same-session")
    first = await publish_summaries_async([doc], cfg)
    again = await publish_summaries_async([doc], cfg)
    assert (first.stored, first.sent) == (1, 1)
    assert (again.stored, again.sent, again.pending) == (0, 0, 0)
    # another machine sends the same session again: still one session in review
    other = make_config(mosquitto, tmp_path / "other", topic_prefix=cfg.topic_prefix)
    assert (await publish_summaries_async([doc], other)).sent == 1
    collected = await collect_summaries(cfg)
    assert list(collected.documents) == ["same-session"]


async def test_broker_down_summary_kept_then_delivered_once(
        mosquitto_fn: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(mosquitto_fn, tmp_path)
    mosquitto_fn.stop()
    report = await publish_summaries_async([make_doc("offline-1")], cfg, attempts=2)
    assert report.sent == 0
    assert report.pending == 1
    assert report.error is not None
    assert "cannot reach broker mqtt://127.0.0.1" in report.error
    assert "Connection refused" in report.error
    store = SummaryStore(cfg.store_path)
    assert [d["session_id"] for d in store.documents()] == ["offline-1"]

    mosquitto_fn.start()
    sync = await sync_outbox(cfg)
    assert (sync.sent, sync.pending, sync.error) == (1, 0, None)
    again = await sync_outbox(cfg)
    assert again.sent == 0
    collected = await collect_summaries(cfg)
    assert list(collected.documents) == ["offline-1"]
    assert collected.ignored == 0


async def test_broker_restarted_mid_session(mosquitto_fn: Mosquitto, tmp_path: Path,
                                            no_blocking: BlockBuster) -> None:
    cfg = make_config(mosquitto_fn, tmp_path)
    rep = make_rep(0)
    async with MqttSink(cfg, backoff=FAST, timeout_s=3.0) as sink:
        assert await sink.wait_connected(10)
        assert await sink.publish_event(RepDone(0, Leg.LEFT, rep))
        await sink.publish_summary(make_doc("mid-1"))
        async with asyncio.timeout(10):
            await sink.drain()

        await asyncio.to_thread(mosquitto_fn.stop)
        async with asyncio.timeout(10):
            while sink.connected:  # noqa: ASYNC110 - polling a flag the sink owns
                await asyncio.sleep(0.05)
        assert not await sink.publish_event(RepDone(0, Leg.LEFT, rep))  # QoS 0: dropped
        assert sink.dropped_events == 1
        await sink.publish_summary(make_doc("mid-2"))  # stored while the broker is down
        assert (await asyncio.to_thread(sink.store.counts)).pending == 1

        await asyncio.to_thread(mosquitto_fn.start)
        async with asyncio.timeout(15):
            await sink.drain()
        assert sink.connections >= 2
        assert sink.last_error is None

    collected = await collect_summaries(cfg)
    assert sorted(collected.documents) == ["mid-1", "mid-2"]
    status = await read_retained(cfg, topics_for(cfg).status)
    assert status[topics_for(cfg).status].payload == b"offline"  # explicit, on clean exit


async def test_live_events_are_qos0_not_retained(mosquitto: Mosquitto, tmp_path: Path) -> None:
    from sensor.mqtt_publish import make_client  # noqa: PLC0415

    cfg = make_config(mosquitto, tmp_path)
    topics = topics_for(cfg)
    rep = make_rep(3)
    async with make_client(cfg, role="observer") as observer, MqttSink(cfg) as sink:
        await observer.subscribe(f"{topics.base}/events/#", qos=1)
        assert await sink.wait_connected(10)
        assert await sink.publish_event(RepDone(1, Leg.RIGHT, rep))
        async with asyncio.timeout(5):
            message = await anext(observer.messages)
    assert message.topic.value == topics.event("rep")
    assert message.qos == 0
    assert not message.retain
    payload = json.loads(message.payload)
    assert payload["schema"] == "hipthrust.event"
    assert (payload["type"], payload["set_index"], payload["leg"]) == ("rep", 1, "right")
    assert payload["rep"]["hold_s"] == 2.0
    # not retained: a late subscriber sees nothing
    assert await read_retained(cfg, f"{topics.base}/events/#", quiet_s=0.3) == {}


SINK_SCRIPT = textwrap.dedent("""
    import asyncio, sys, json
    from pathlib import Path
    from sensor.config import Config, parse_broker_url
    from sensor.mqtt_publish import MqttSink

    async def main():
        a = json.loads(sys.argv[1])
        cfg = Config(broker=parse_broker_url(a["url"]), username=a["user"],
                     password=a["password"], topic_prefix=a["prefix"], device_id="dev",
                     data_dir=Path(a["data"]))
        async with MqttSink(cfg) as sink:
            await sink.wait_connected(10)
            print("connected", flush=True)
            await asyncio.sleep(60)

    asyncio.run(main())
""")


async def test_last_will_says_offline_when_killed(mosquitto: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(mosquitto, tmp_path, device_id="dev")
    status_topic = topics_for(cfg).status
    args = json.dumps({"url": mosquitto.url, "user": mosquitto.username,
                       "password": mosquitto.password, "prefix": cfg.topic_prefix,
                       "data": str(tmp_path / "data")})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SINK_SCRIPT, args, stdout=subprocess.PIPE, cwd=REPO_ROOT)
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            assert (await proc.stdout.readline()).strip() == b"connected"
        online = await read_retained(cfg, status_topic, quiet_s=0.3)
        assert online[status_topic].payload == b"online"
        assert online[status_topic].retain
    finally:
        proc.kill()
        await proc.wait()
    # the broker notices the dead socket at once and publishes the will
    async with asyncio.timeout(10):
        while True:
            found = await read_retained(cfg, status_topic, quiet_s=0.3)
            if found[status_topic].payload == b"offline":
                break


async def test_wrong_password_is_one_clear_error(mosquitto: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(mosquitto, tmp_path,
                      password="wrong-password-123")  # noqa: S106 - deliberately wrong
    report = await publish_summaries_async([make_doc("pw")], cfg)
    assert report.error is not None
    assert "refused the login" in report.error
    assert "wrong-password-123" not in report.error
    assert "\n" not in report.error
    assert report.pending == 1  # kept for later


async def test_untrusted_certificate_is_one_clear_error(mosquitto: Mosquitto,
                                                        tmp_path: Path) -> None:
    cfg = make_config(mosquitto, tmp_path, tls=True, ca_file=mosquitto.untrusted_ca_file)
    report = await publish_summaries_async([make_doc("tls")], cfg)
    assert report.error is not None
    assert report.error.startswith(f"cannot reach broker {mosquitto.tls_url}: certificate verify "
                                   "failed")
    assert "\n" not in report.error
    assert report.pending == 1


async def test_hostile_names_cannot_leave_the_prefix(mosquitto_fn: Mosquitto,
                                                     tmp_path: Path) -> None:
    from sensor.mqtt_publish import make_client  # noqa: PLC0415

    hostile = "../+/#\0 evil/$SYS/x"
    cfg = load_config({"broker": mosquitto_fn.url, "username": mosquitto_fn.username,
                       "topic_prefix": "hip/+/#", "device_id": hostile,
                       "data_dir": str(tmp_path / "data"),
                       "config_file": str(_empty_config(tmp_path))},
                      env={"HIPTHRUST_MQTT_PASSWORD": mosquitto_fn.password})
    rep = make_rep(0)
    async with make_client(cfg, role="observer") as observer:
        await observer.subscribe("#", qos=1)
        async with MqttSink(cfg) as sink:
            assert await sink.wait_connected(10)
            await sink.publish_summary(make_doc("a/b/#/+ \0$x"))
            await sink.publish_event(RepDone(0, Leg.LEFT, rep))
            async with asyncio.timeout(10):
                await sink.drain()
        seen = [m.topic.value for m in await messages_until_quiet(observer)]
    assert cfg.topic_prefix.startswith("hip/")
    assert len(seen) >= 8  # status, discovery x5, session, latest, event
    for topic in seen:
        first = topic.split("/")[0]
        assert first in ("hip", "homeassistant"), topic
        assert not any(c in topic for c in "+#\0 $"), topic
        assert ".." not in topic.split("/"), topic
    collected = await collect_summaries(cfg)
    assert list(collected.documents) == ["a/b/#/+ \0$x"]


def _empty_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text("")
    return path


async def test_thousand_offline_summaries_all_delivered_no_duplicates(
        mosquitto: Mosquitto, tmp_path: Path) -> None:
    cfg = make_config(mosquitto, tmp_path)
    store = SummaryStore(cfg.store_path)
    docs = [make_doc(f"load-{i:04d}", reps_per_set=1) for i in range(1000)]
    await asyncio.to_thread(store.add_many, docs)
    assert store.counts().pending == 1000
    report = await sync_outbox(cfg, store)
    assert (report.sent, report.pending, report.error) == (1000, 0, None)
    collected = await collect_summaries(cfg)
    assert collected.ignored == 0
    assert sorted(collected.documents) == [d["session_id"] for d in docs]
