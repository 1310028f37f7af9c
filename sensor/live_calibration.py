"""Live calibration: a sensor's BLE stream -> decode -> ``CalibrationSession``.

The source end of the guided ``hipthrust calibrate``: connect to the sensor with
``sensor.ble.SensorLink``, decode each notification with ``sensor.decode.StreamDecoder`` and
feed the sample blocks to the step machine, handing every step-machine event (and the link's
own news: connected, lost, back) to a callback as it happens. The terminal wording is the
command's job (``sensor.commands.calibrate.format_event``).

``calibrate_virtual`` runs the same path against a virtual sensor on a Bumble link that
plays a recording of the procedure, so the whole flow runs without hardware.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sensor.ble import BleBackend, BleError, FoundSensor, SensorInfo, SensorLink, scan
from sensor.calibration import (
    CalibrationError,
    CalibrationEvent,
    CalibrationProfile,
    CalibrationSession,
    incomplete_reason,
)
from sensor.decode import StreamDecoder
from sensor.device_store import PairedSensor
from sensor.events import LinkBack, LinkLost
from sensor.samples import Samples

log = logging.getLogger(__name__)

VIRTUAL_NAME = "hipthrust-virtual"
"""The advertised name of the virtual sensor, and so the device its profile is stored for."""
VIRTUAL_SCAN_S = 0.3  # the virtual sensor advertises every 20 ms
DRAIN_S = 0.25  # after the virtual sensor's last packet: time for it to cross the link

LiveEvent = CalibrationEvent | SensorInfo | LinkLost | LinkBack
"""What the live calibration reports: step-machine events, ``SensorInfo`` once connected,
and link drop-outs. A drop-out restarts the step under way (the sensor may have moved)."""


async def calibrate_on_link(
    link: SensorLink, session: CalibrationSession, on_event: Callable[[LiveEvent], None]
) -> CalibrationProfile | None:
    """Run ``session`` on an open link until it finishes; None if the link closes first."""
    decoder = StreamDecoder(link.model, nominal_rate_hz=link.rate_hz)  # (arrival-stamped)
    if link.info is not None:
        on_event(link.info)
    for event in session.start():
        on_event(event)
    garbage = 0
    async for item in link.items():
        if isinstance(item, LinkLost):
            session.restart_step()
            on_event(item)
            continue
        if isinstance(item, LinkBack):
            on_event(item)
            continue
        block = decoder.feed(item.data, arrival_s=item.arrival_s)
        if decoder.stats.dropped_garbage > garbage:
            garbage = decoder.stats.dropped_garbage
            log.warning("dropped a bad packet (%d so far): %s", garbage,
                        decoder.stats.last_reason)
        if block is None:
            continue
        for event in session.feed(block):
            on_event(event)
        if session.profile is not None:
            return session.profile
    return None


async def calibrate_sensor(
    target: FoundSensor,
    session: CalibrationSession,
    on_event: Callable[[LiveEvent], None],
    *,
    backend: BleBackend | None = None,
) -> CalibrationProfile:
    """Connect to ``target`` and run the guided calibration on it (until done or Ctrl-C)."""
    async with SensorLink(target, backend=backend) as link:
        profile = await calibrate_on_link(link, session, on_event)
    if profile is None:
        raise CalibrationError(incomplete_reason(session))
    return profile


async def find_paired(
    paired: PairedSensor, timeout_s: float, backend: BleBackend | None = None
) -> FoundSensor:
    """Scan for the paired sensor; raises BleError when it is not heard."""
    for found in await scan(timeout_s, backend):
        if found.address.casefold() == paired.address.casefold():
            return found
    label = f"{paired.name} ({paired.address})" if paired.name else paired.address
    raise BleError(f"paired sensor {label} not found in {timeout_s:g} s; "
                   "is it switched on, in range and not connected elsewhere?")


async def calibrate_virtual(
    samples: Samples,
    session: CalibrationSession,
    on_event: Callable[[LiveEvent], None],
    *,
    speed: float = 0.0,
) -> CalibrationProfile:
    """Run the guided calibration against a virtual sensor that plays ``samples``.

    ``speed`` is the playback speed (1 = real time, 0 = as fast as possible). Raises
    CalibrationError naming the missing steps when the recording ends first.
    """
    # Imported here: Bumble is only needed for the virtual radio.
    from sensor.ble_backend_bumble import virtual_radio  # noqa: PLC0415
    from sensor.virtual_sensor import VirtualSensor  # noqa: PLC0415

    sensor = VirtualSensor(samples, speed=speed, name=VIRTUAL_NAME)
    async with virtual_radio(sensor) as radio:
        found = [s for s in await scan(VIRTUAL_SCAN_S, radio.backend) if s.name == VIRTUAL_NAME]
        if not found:
            raise BleError("the virtual sensor did not advertise")
        async with SensorLink(found[0], backend=radio.backend) as link:

            async def close_when_played() -> None:
                await sensor.finished.wait()
                await asyncio.sleep(DRAIN_S)
                await link.close()

            closer = asyncio.create_task(close_when_played())
            try:
                profile = await calibrate_on_link(link, session, on_event)
            finally:
                closer.cancel()
                await asyncio.gather(closer, return_exceptions=True)
    if profile is None:
        raise CalibrationError(incomplete_reason(session))
    return profile
