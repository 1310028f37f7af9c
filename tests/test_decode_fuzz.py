"""Fuzzing the packet decoders: only PacketError ever escapes decode_packet, and
StreamDecoder.feed never raises, keeps its counters consistent and its time axis increasing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.decode import (
    DecodedPacket,
    PacketError,
    SensorModel,
    StreamDecoder,
    decode_packet,
)
from sensor.gatt_profile import encode_imu_packet, max_samples_per_packet
from sensor.samples import Samples

HT = SensorModel.HIPTHRUST
WIT = SensorModel.WITMOTION_WT901BLE
MODELS = st.sampled_from([HT, WIT])
WIT_FRAME = bytes.fromhex("5561fcffefff110800000000000098ff0d00f831")  # real capture


def _try_decode(model: SensorModel, data: bytes) -> DecodedPacket | None:
    reason = None
    try:
        packet = decode_packet(model, data)
    except PacketError as err:
        reason = str(err)
    if reason is not None:
        assert reason
        assert "\n" not in reason
        return None
    assert packet.acc_g.shape == (len(packet), 3)
    assert np.all(np.abs(packet.acc_g) <= packet.accel_range_g)
    return packet


@st.composite
def hipthrust_packets(draw: st.DrawFn) -> bytes:
    with_gyro = draw(st.booleans())
    n = draw(st.integers(1, max_samples_per_packet(with_gyro)))
    counts = draw(st.lists(st.integers(-32768, 32767), min_size=6 * n, max_size=6 * n))
    raw = np.array(counts, dtype=np.float64).reshape(n, 6)
    accel = draw(st.sampled_from([2, 4, 8, 16]))
    gyro = draw(st.sampled_from([125, 250, 500, 1000, 2000]))
    return encode_imu_packet(
        draw(st.integers(0, 0xFFFF)),
        draw(st.integers(0, 0xFFFFFFFF)),
        draw(st.integers(10, 655_350)),
        raw[:, :3] * accel / 32768,
        raw[:, 3:] * gyro / 32768 if with_gyro else None,
        accel_range_g=accel,
        gyro_range_dps=gyro,
    )


@st.composite
def witmotion_packets(draw: st.DrawFn) -> bytes:
    frames = draw(st.integers(1, 12))
    return b"".join(b"\x55\x61" + draw(st.binary(min_size=18, max_size=18)) for _ in range(frames))


@settings(max_examples=200, deadline=None)
@given(MODELS, st.binary(max_size=300))
def test_random_bytes_raise_only_packet_error(model: SensorModel, data: bytes) -> None:
    _try_decode(model, data)


@settings(max_examples=100, deadline=None)
@given(hipthrust_packets(), st.data())
def test_hipthrust_valid_truncated_and_oversized(data: bytes, draw: st.DataObject) -> None:
    assert _try_decode(HT, data) is not None
    cut = draw.draw(st.integers(0, len(data) - 1))
    with pytest.raises(PacketError):
        decode_packet(HT, data[:cut])
    extra = draw.draw(st.binary(min_size=1, max_size=20))
    with pytest.raises(PacketError):
        decode_packet(HT, data + extra)


@settings(max_examples=100, deadline=None)
@given(witmotion_packets(), st.data())
def test_witmotion_valid_truncated_and_oversized(data: bytes, draw: st.DataObject) -> None:
    packet = _try_decode(WIT, data)
    assert packet is not None
    assert len(packet) == len(data) // 20
    cut = draw.draw(st.integers(0, len(data) - 1))
    if cut % 20:
        with pytest.raises(PacketError):
            decode_packet(WIT, data[:cut])
    extra = draw.draw(st.binary(min_size=1, max_size=19))
    with pytest.raises(PacketError):
        decode_packet(WIT, data + extra)


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        hipthrust_packets().map(lambda d: (HT, d)), witmotion_packets().map(lambda d: (WIT, d))
    ),
    st.data(),
)
def test_bit_flips_never_crash(case: tuple[SensorModel, bytes], draw: st.DataObject) -> None:
    model, data = case
    flipped = bytearray(data)
    for _ in range(draw.draw(st.integers(1, 4))):
        bit = draw.draw(st.integers(0, 8 * len(data) - 1))
        flipped[bit // 8] ^= 1 << (bit % 8)
    _try_decode(model, bytes(flipped))


def _check_stream(dec: StreamDecoder, blocks: list[Samples]) -> None:
    s = dec.stats
    assert s.packets == s.decoded + s.dropped
    assert s.decoded == len(blocks)
    assert s.samples == sum(len(b) for b in blocks)
    assert sum(s.by_reason.values()) == s.dropped_garbage
    if blocks:
        t = np.concatenate([b.t_s for b in blocks])
        assert np.all(np.diff(t) > 0)


@settings(max_examples=100, deadline=None)
@given(
    MODELS,
    st.lists(
        st.one_of(st.binary(max_size=260), hipthrust_packets(), witmotion_packets()), max_size=30
    ),
)
def test_stream_feed_never_raises(model: SensorModel, packets: list[bytes]) -> None:
    dec = StreamDecoder(model)
    blocks = [
        b for i, p in enumerate(packets) if (b := dec.feed(p, arrival_s=i * 0.01)) is not None
    ]
    _check_stream(dec, blocks)


def _mutate(rng: np.random.Generator, data: bytes) -> bytes:
    """One random corruption: flip bits, cut, extend, or replace with noise."""
    choice = rng.integers(5)
    if choice == 0:
        return data
    if choice == 1:
        buf = bytearray(data)
        for bit in rng.integers(0, 8 * len(data), size=rng.integers(1, 4)):
            buf[bit // 8] ^= 1 << (bit % 8)
        return bytes(buf)
    if choice == 2:
        return data[: rng.integers(0, len(data))]
    if choice == 3:
        return data + rng.bytes(int(rng.integers(1, 30)))
    return rng.bytes(int(rng.integers(0, 260)))


def _random_hipthrust(rng: np.random.Generator, seq: int, t0_us: int) -> tuple[bytes, int]:
    with_gyro = bool(rng.integers(2))
    n = int(rng.integers(1, max_samples_per_packet(with_gyro) + 1))
    dt_us = int(rng.choice([2500, 5000, 10_000, 80_000]))
    acc = rng.uniform(-16, 16, size=(n, 3))
    gyro = rng.uniform(-2000, 2000, size=(n, 3)) if with_gyro else None
    return encode_imu_packet(seq, t0_us, dt_us, acc, gyro), n * dt_us


@pytest.mark.parametrize("model", [HT, WIT])
def test_deterministic_fuzz_loop(model: SensorModel) -> None:
    """10,000 packets per model: valid, lost, repeated, corrupted and pure noise."""
    rng = np.random.default_rng(20240603)
    dec = StreamDecoder(model, nominal_rate_hz=50.0)
    blocks: list[Samples] = []
    seq, t0_us = int(rng.integers(0, 0xFFFF)), int(rng.integers(0, 0xFFFFFFFF))
    for i in range(10_000):
        if model is HT:
            data, duration_us = _random_hipthrust(rng, seq, t0_us)
            skip = int(rng.choice([1, 1, 1, 1, 2, 3]))  # some packets get lost on the way
            seq = (seq + skip) % 0x10000
            t0_us = (t0_us + skip * duration_us) % 0x100000000
        else:
            frames = int(rng.integers(1, 13))
            data = b"".join(b"\x55\x61" + rng.bytes(18) for _ in range(frames))
        block = dec.feed(_mutate(rng, data), arrival_s=i * 0.1)
        if block is not None:
            blocks.append(block)
    assert dec.stats.packets == 10_000
    assert dec.stats.decoded > 1_000
    assert dec.stats.dropped_garbage > 1_000
    if model is HT:
        assert dec.stats.lost_by_seq > 0
        assert dec.stats.clock_wraps + dec.stats.resyncs > 0
    _check_stream(dec, blocks)
