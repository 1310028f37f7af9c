"""Outbox benchmark: N summaries queued offline, then delivered after reconnecting.

Starts its own mosquitto (password auth, TLS listener, as the tests do), queues N summaries
in a fresh SQLite store with no broker, flushes them, then reads them back with ``review``'s
collector and checks there are no duplicates. Prints the times.

    python bench/bench_outbox.py            # 1000 summaries, plain listener
    python bench/bench_outbox.py --tls -n 5000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from mosquitto_broker import Mosquitto  # noqa: E402 - after the path set-up above
from mqtt_docs import make_doc  # noqa: E402

from sensor.config import Config, parse_broker_url  # noqa: E402
from sensor.mqtt_publish import sync_outbox  # noqa: E402
from sensor.mqtt_review import collect_summaries  # noqa: E402
from sensor.store import SummaryStore  # noqa: E402


async def run(cfg: Config, n: int) -> None:
    store = SummaryStore(cfg.store_path)
    docs = [make_doc(f"bench-{i:06d}", reps_per_set=8) for i in range(n)]
    t0 = time.perf_counter()
    await asyncio.to_thread(store.add_many, docs)
    t1 = time.perf_counter()
    report = await sync_outbox(cfg, store, discovery=False)
    t2 = time.perf_counter()
    collected = await collect_summaries(cfg, max_wait_s=120)
    t3 = time.perf_counter()
    size_kb = len(json.dumps(docs[0])) / 1e3
    print(f"summaries:            {n} (~{size_kb:.1f} kB each)")
    print(f"store while offline:  {t1 - t0:7.3f} s  ({n / (t1 - t0):8.0f} /s)")
    print(f"deliver on reconnect: {t2 - t1:7.3f} s  ({report.sent / (t2 - t1):8.0f} /s), "
          f"sent {report.sent}, pending {report.pending}, error {report.error}")
    print(f"review read-back:     {t3 - t2:7.3f} s  ({len(collected.documents)} sessions, "
          f"{collected.ignored} ignored)")
    ok = report.sent == n and len(collected.documents) == n and report.pending == 0
    print("all delivered, no duplicates" if ok else "MISMATCH")
    if not ok:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="summaries (1000)")
    parser.add_argument("--tls", action="store_true", help="use the TLS listener")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp) / "broker")
        broker.start()
        try:
            cfg = Config(
                broker=parse_broker_url(broker.tls_url if args.tls else broker.url),
                username=broker.username, password=broker.password,
                ca_file=broker.ca_file if args.tls else None,
                topic_prefix=f"bench{uuid.uuid4().hex[:6]}", device_id="bench",
                data_dir=Path(tmp) / "data")
            asyncio.run(run(cfg, args.n))
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
