"""The real bleak code path against a virtual sensor on a Bumble link (no hardware needed).

Everything goes through ``BleakScanner``/``BleakClient`` (and bleak-retry-connector inside
``SensorLink``) with the Bumble backend; the virtual sensor is a real Bumble GATT server.
The ``no_blocking`` fixture (``tests/blocking.py``) makes any blocking call in the event loop
fail the test.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools

import numpy as np
import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from blockbuster import BlockBuster
from bumble.hci import Address
from numpy.testing import assert_allclose, assert_array_equal

from sensor import ble
from sensor import gatt_profile as gp
from sensor.ble_backend_bumble import VirtualRadio, virtual_radio
from sensor.commands import pair as pair_cmd
from sensor.commands import scan as scan_cmd
from sensor.decode import SensorModel, StreamDecoder, decode_packet
from sensor.device_store import PairedSensor, load_paired
from sensor.errors import HipthrustError
from sensor.events import LinkBack, LinkLost
from sensor.samples import Samples
from sensor.virtual_sensor import VirtualSensor, plan_packets

RATE_HZ = 100.0


def make_samples(n: int, *, seed: int = 1, with_gyro: bool = True) -> Samples:
    rng = np.random.default_rng(seed)
    acc = rng.normal(0.0, 0.6, (n, 3)) + np.array([0.0, 0.0, 1.0])
    gyro = rng.normal(0.0, 150.0, (n, 3)) if with_gyro else None
    return Samples(np.arange(n) / RATE_HZ, acc, gyro)


def quantised(values: np.ndarray, full_scale: float) -> np.ndarray:
    raw = np.clip(np.rint(values * (32768.0 / full_scale)), -32768, 32767)
    return raw * (full_scale / 32768.0)


def unpack(data: bytes) -> tuple[int, float, float, np.ndarray, np.ndarray | None]:
    """Seq, t0 (s), dt (s), acc (g), gyro (dps) of one hipthrust packet, straight from HEADER."""
    flags, n, seq, t0_us, dt_10us, acc_fs, gyro_code = gp.HEADER.unpack_from(data)
    cols = 6 if flags & gp.FLAG_GYRO else 3
    raw = np.frombuffer(data, dtype="<i2", offset=gp.HEADER.size).reshape(n, cols)
    acc = raw[:, :3] * (acc_fs / 32768.0)
    gyro = raw[:, 3:] * (gyro_code * 125 / 32768.0) if cols == 6 else None
    return seq, t0_us * 1e-6, dt_10us * 1e-5, acc, gyro


async def find_device(radio: VirtualRadio) -> ble.FoundSensor:
    found = await ble.scan(0.2, backend=radio.backend)
    assert len(found) == 1
    return found[0]


async def test_scan_finds_name_rssi_and_service_uuid(no_blocking: BlockBuster) -> None:
    async with virtual_radio(VirtualSensor(make_samples(50), battery_pct=64)) as radio:
        seen = await BleakScanner.discover(
            timeout=0.2, return_adv=True, backend=radio.scanner_class
        )
        assert list(seen) == ["F1:C0:FF:EE:12:34"]
        device, adv = seen["F1:C0:FF:EE:12:34"]
        assert device.name == "hipthrust-1234"
        assert adv.local_name == "hipthrust-1234"
        assert adv.rssi == -50  # what Bumble's virtual controller reports
        assert adv.service_uuids == [gp.SERVICE_UUID]
        filtered = await BleakScanner.discover(
            timeout=0.1, service_uuids=[ble.WITMOTION_SERVICE_UUID], backend=radio.scanner_class
        )
        assert filtered == []
        found = await ble.scan(0.2, backend=radio.backend)
        assert [(f.name, f.address, f.model, f.rssi, f.battery_pct) for f in found] == [
            ("hipthrust-1234", "F1:C0:FF:EE:12:34", SensorModel.HIPTHRUST, -50, 64)
        ]


def test_recognise_models_by_uuid_or_name() -> None:
    assert ble.recognise(None, [gp.SERVICE_UUID.upper()]) is SensorModel.HIPTHRUST
    assert ble.recognise("WT901BLE67", []) is SensorModel.WITMOTION_WT901BLE
    assert ble.recognise("", [ble.WITMOTION_SERVICE_UUID]) is SensorModel.WITMOTION_WT901BLE
    assert ble.recognise("hipthrust-00AA", []) is SensorModel.HIPTHRUST
    assert ble.recognise("Polar H10", ["0000180d-0000-1000-8000-00805f9b34fb"]) is None


async def test_connect_mtu_battery_info(no_blocking: BlockBuster) -> None:
    sensor = VirtualSensor(make_samples(50, with_gyro=False), battery_pct=42)
    async with virtual_radio(sensor) as radio:
        found = await find_device(radio)
        async with BleakClient(found.device, backend=radio.client_class) as client:
            assert client.is_connected
            assert client.mtu_size == 247
            assert (await client.read_gatt_char(gp.BATTERY_LEVEL_UUID)) == bytearray([42])
            info = gp.INFO.unpack(bytes(await client.read_gatt_char(gp.INFO_UUID)))
            assert info == (1, 0, 4000, 16)  # version 1, no gyro, 400.0 Hz, 16 g
            maker = await client.read_gatt_char(gp.MANUFACTURER_NAME_UUID)
            assert maker.decode() == "hipthrust (virtual)"
            data_char = client.services.get_characteristic(gp.IMU_DATA_UUID)
            assert data_char is not None
            assert data_char.properties == ["notify"]
            assert data_char.max_write_without_response_size == 244
            control = client.services.get_characteristic(gp.CONTROL_UUID)
            assert control is not None
            assert control.properties == ["write"]
        assert not client.is_connected


async def test_notifications_carry_exactly_the_streamed_samples(no_blocking: BlockBuster) -> None:
    samples = make_samples(1000)
    sensor = VirtualSensor(samples, speed=0, start_on_subscribe=False)
    async with virtual_radio(sensor) as radio:
        found = await find_device(radio)
        packets: list[bytes] = []
        async with BleakClient(found.device, backend=radio.client_class) as client:
            await client.write_gatt_char(
                gp.CONTROL_UUID,
                gp.StreamConfig(100.0, 8, 1000).control_bytes(gp.Command.CONFIGURE),
                response=True,
            )
            await client.start_notify(gp.IMU_DATA_UUID, lambda _c, d: packets.append(bytes(d)))
            assert packets == []  # nothing before "start"
            await client.write_gatt_char(
                gp.CONTROL_UUID, gp.StreamConfig().control_bytes(gp.Command.START), response=True
            )
            await asyncio.wait_for(sensor.finished.wait(), 5.0)
            for _ in range(100):
                if len(packets) == sensor.stats.packets_sent:
                    break
                await asyncio.sleep(0.01)
    assert len(packets) == len(plan_packets(samples.t_s, 19)) == 53  # 19 samples per packet
    decoded = [unpack(p) for p in packets]
    assert [d[0] for d in decoded] == list(range(53))
    acc = np.concatenate([d[3] for d in decoded])
    gyro = np.concatenate([d[4] for d in decoded if d[4] is not None])
    t = np.concatenate([d[1] + d[2] * np.arange(len(d[3])) for d in decoded])
    assert samples.gyro_dps is not None
    assert_array_equal(acc, quantised(samples.acc_g, 8))
    assert_array_equal(gyro, quantised(samples.gyro_dps, 1000))
    assert_allclose(t, samples.t_s, atol=1e-6)
    # The project's decoder reads the same bytes the same way.
    first = decode_packet(SensorModel.HIPTHRUST, packets[0])
    assert first.seq == 0
    assert_array_equal(first.acc_g, acc[:19])


async def test_drop_rate_gives_sequence_gaps(no_blocking: BlockBuster) -> None:
    sensor = VirtualSensor(make_samples(3000), speed=0, drop_rate=0.02, seed=7)
    async with virtual_radio(sensor) as radio:
        found = await find_device(radio)
        seqs: list[int] = []
        async with BleakClient(found.device, backend=radio.client_class) as client:
            await client.start_notify(
                gp.IMU_DATA_UUID, lambda _c, d: seqs.append(unpack(bytes(d))[0])
            )
            await asyncio.wait_for(sensor.finished.wait(), 5.0)
            await asyncio.sleep(0.05)
    total = len(plan_packets(sensor.samples.t_s, 19))
    missing = sorted(set(range(total)) - set(seqs))
    assert sensor.stats.packets_dropped == len(missing) > 0
    assert len(seqs) == sensor.stats.packets_sent == total - len(missing)
    assert seqs == sorted(seqs)
    gaps = int(np.sum(np.diff(seqs) - 1))
    assert gaps == len(missing) - (total - 1 - seqs[-1]) - seqs[0]


async def test_peripheral_disconnect_calls_bleaks_disconnected_callback(
    no_blocking: BlockBuster,
) -> None:
    sensor = VirtualSensor(make_samples(300), speed=0, disconnect_at_s=1.0)
    async with virtual_radio(sensor) as radio:
        found = await find_device(radio)
        lost = asyncio.Event()
        client = BleakClient(
            found.device, disconnected_callback=lambda _c: lost.set(), backend=radio.client_class
        )
        await client.connect()
        await client.start_notify(gp.IMU_DATA_UUID, lambda _c, _d: None)
        await asyncio.wait_for(lost.wait(), 5.0)
        assert not client.is_connected
        assert sensor.stats.disconnects == 1
        # Our own disconnect is not reported: connect again and leave.
        lost.clear()
        await client.connect()
        assert client.is_connected
        await client.disconnect()
        await asyncio.sleep(0.05)
        assert not lost.is_set()


async def test_sensor_link_reconnects_and_resumes(no_blocking: BlockBuster) -> None:
    samples = make_samples(1500)
    sensor = VirtualSensor(samples, speed=0, disconnect_at_s=5.0, start_on_subscribe=False)
    async with virtual_radio(sensor) as radio:
        found = await find_device(radio)
        items: list[ble.LinkItem] = []
        async with ble.SensorLink(found, backend=radio.backend, base_backoff_s=0.05) as link:
            assert link.info is not None
            assert (link.info.mtu, link.info.battery_pct, link.info.has_gyro) == (247, 87, True)
            assert link.info.max_rate_hz == 400.0

            async def close_when_done() -> None:
                await sensor.finished.wait()
                await asyncio.sleep(0.05)
                await link.close()

            closer = asyncio.create_task(close_when_done())
            async for item in link.items():
                items.append(item)
            await closer
        assert link.reconnects == 1
    kinds = [type(i).__name__ for i in items]
    assert kinds.count("LinkLost") == 1
    assert kinds.count("LinkBack") == 1
    lost_at, back_at = kinds.index("LinkLost"), kinds.index("LinkBack")
    assert 0 < lost_at < back_at < len(items) - 1
    notes = [i for i in items if isinstance(i, ble.Notification)]
    seqs = [unpack(n.data)[0] for n in notes]
    before = [unpack(n.data)[0] for n in items[:lost_at] if isinstance(n, ble.Notification)]
    after = [unpack(n.data)[0] for n in items[back_at:] if isinstance(n, ble.Notification)]
    assert before == list(range(len(before)))  # 5.0 s = packet 26 of 19 samples: 0..26
    assert before[-1] == 26
    back = items[back_at]
    assert isinstance(back, LinkBack)
    assert isinstance(items[lost_at], LinkLost)
    assert back.lost_packets == after[0] - before[-1] - 1 == sensor.stats.packets_lost_offline > 0
    assert after == list(range(after[0], after[0] + len(after)))  # resumed, in order
    assert after[-1] == len(plan_packets(samples.t_s, 19)) - 1
    assert len(seqs) == sensor.stats.packets_sent
    # Downstream, the project's stream decoder sees the same loss and every sample sent.
    decoder = StreamDecoder(SensorModel.HIPTHRUST)
    blocks = [decoder.feed(n.data, arrival_s=n.arrival_s) for n in notes]
    assert decoder.stats.lost_by_seq == sensor.stats.packets_lost_offline
    assert sum(len(b) for b in blocks if b is not None) == sum(
        stop - start for start, stop in sensor.stats.sent_ranges
    )
    assert all(b.arrival_s <= a.arrival_s for b, a in itertools.pairwise(notes))


async def test_sensor_link_gives_one_line_error_when_nothing_answers(
    no_blocking: BlockBuster,
) -> None:
    async with virtual_radio() as radio:
        impatient = ble.BleBackend(
            radio.scanner_class,
            type("ImpatientClient", (radio.client_class,), {"connect_timeout_s": 0.2}),
        )
        address = "F1:00:00:00:00:01"
        ghost = BLEDevice(address, "hipthrust-0001", Address(address))
        link = ble.SensorLink(ghost, backend=impatient, connect_attempts=1)
        with pytest.raises(ble.BleError, match="cannot connect to hipthrust-0001") as info:
            await asyncio.wait_for(link.open(), 10.0)
        assert "\n" not in str(info.value)


async def test_real_time_pacing(no_blocking: BlockBuster) -> None:
    """At speed 10, one second of samples cannot arrive in less than about 0.1 s."""
    samples = make_samples(100)
    sensor = VirtualSensor(samples, speed=10.0, samples_per_packet=10)
    async with virtual_radio(sensor) as radio:
        found = await find_device(radio)
        loop = asyncio.get_running_loop()
        arrivals: list[float] = []
        async with BleakClient(found.device, backend=radio.client_class) as client:
            await client.start_notify(gp.IMU_DATA_UUID, lambda _c, _d: arrivals.append(loop.time()))
            await asyncio.wait_for(sensor.finished.wait(), 5.0)
            await asyncio.sleep(0.02)
    assert len(arrivals) == 10
    # The last packet ends at 0.99 s of stream time, the first at 0.09 s: 0.09 s apart at 10x.
    assert arrivals[-1] - arrivals[0] >= 0.085


# -- commands (synchronous: they run their own event loop) ------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hipthrust")
    sub = p.add_subparsers()
    scan_cmd.register(sub)
    pair_cmd.register(sub)
    return p


def test_scan_command_lists_the_virtual_sensor(capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["scan", "--virtual"])
    assert args.func(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["MODEL", "NAME", "ADDRESS", "RSSI", "BATTERY"]
    assert lines[1].split() == [
        "hipthrust",
        "hipthrust-1234",
        "F1:C0:FF:EE:12:34",
        "-50",
        "dBm",
        "87%",
    ]


@pytest.mark.usefixtures("config_home")
def test_pair_command_remembers_the_sensor(capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["pair", "--virtual", "hipthrust-1234"])
    assert args.func(args) == 0
    assert "paired with hipthrust-1234" in capsys.readouterr().out
    assert load_paired() == PairedSensor("F1:C0:FF:EE:12:34", "hipthrust-1234", "hipthrust")
    args = parser().parse_args(["pair", "--virtual", "hipthrust-9999"])
    with pytest.raises(HipthrustError, match="no supported sensor 'hipthrust-9999' found"):
        args.func(args)


def _found(name: str, address: str, rssi: int) -> ble.FoundSensor:
    return ble.FoundSensor(
        name, address, SensorModel.HIPTHRUST, rssi, None, BLEDevice(address, name, None)
    )


def test_choose_sensor_rules() -> None:
    a, b = (
        _found("hipthrust-AAAA", "F1:00:00:00:AA:AA", -40),
        _found("hipthrust-BBBB", "F1:00:00:00:BB:BB", -70),
    )
    assert pair_cmd.choose_sensor([a], None, None) is a
    assert pair_cmd.choose_sensor([a, b], "f1:00:00:00:bb:bb", None) is b
    assert pair_cmd.choose_sensor([a, b], "HIPTHRUST-bbbb", None) is b
    assert pair_cmd.choose_sensor([a, b], None, lambda found: found[1]) is b
    with pytest.raises(HipthrustError, match="2 sensors found; name one"):
        pair_cmd.choose_sensor([a, b], None, None)
    with pytest.raises(HipthrustError, match="no supported sensor found"):
        pair_cmd.choose_sensor([], None, None)


def test_no_bluetooth_is_one_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an adapter (here: no D-Bus socket) both commands raise a one-line
    HipthrustError, which ``sensor.cli.main`` prints as ``hipthrust: ...`` with status 2."""

    async def no_adapter(*_args: object, **_kwargs: object) -> None:
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(BleakScanner, "discover", no_adapter)
    for command in (["scan"], ["pair", "F1:00:00:00:00:01"]):
        args = parser().parse_args(command)
        with pytest.raises(HipthrustError) as info:
            args.func(args)
        message = str(info.value)
        assert message.startswith("Bluetooth is not available on this machine")
        assert "\n" not in message
