"""A bleak backend over Google's Bumble: the real bleak API, with no Bluetooth hardware.

``virtual_radio(*sensors)`` builds a Bumble ``LocalLink`` with a central ``Device`` (its own
virtual controller and a full host stack) and attaches the given ``VirtualSensor``
peripherals to it. Its ``backend`` is a ``sensor.ble.BleBackend`` whose scanner and client
classes subclass bleak's ``BaseBleakScanner``/``BaseBleakClient``, so that
``BleakScanner(backend=...)``, ``BleakClient(device, backend=...)`` and
bleak-retry-connector's ``establish_connection(BleakClient, device, name, backend=...)`` run
unchanged against the virtual sensors::

    async with virtual_radio(VirtualSensor(samples, speed=0)) as radio:
        found = await sensor.ble.scan(1.0, backend=radio.backend)
        async with SensorLink(found[0], backend=radio.backend) as link: ...

Only what the project needs is implemented: scanning, connecting (MTU 247), GATT discovery,
reads, writes, notifications and the disconnected callback on an unsolicited disconnect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, ClassVar

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CHARACTERISTIC_PROPERTIES, CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError, BleakGATTProtocolError
from bleak.uuids import normalize_uuid_str
from bumble import core, hci
from bumble.att import ATT_Error
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from sensor.ble import BleBackend
from sensor.virtual_sensor import VirtualSensor

log = logging.getLogger(__name__)

CENTRAL_ADDRESS = "C0:FF:EE:00:00:01"
PREFERRED_MTU = 247
DEFAULT_ATT_MTU = 23

_radios: list[VirtualRadio] = []  # radios entered with virtual_radio(), innermost last


class _CentralController(Controller):
    """Bumble's virtual controller, cancelling a pending connection as real controllers do.

    Bumble's controller acknowledges LE Create Connection Cancel but keeps the connection
    pending, so a connect that timed out would hang and block every later one. The Core
    spec (Vol 4, Part E, 7.8.13) has the controller end it with an LE Connection Complete
    event carrying Unknown Connection Identifier, which Bumble's host turns into an error.
    """

    def on_hci_le_create_connection_cancel_command(
        self, command: hci.HCI_LE_Create_Connection_Cancel_Command
    ) -> hci.HCI_StatusReturnParameters:
        pending = self.pending_le_connection
        result = super().on_hci_le_create_connection_cancel_command(command)
        if pending is not None:
            self.pending_le_connection = None
            event = hci.HCI_LE_Connection_Complete_Event(
                status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
                connection_handle=0,
                role=hci.Role.CENTRAL,
                peer_address_type=pending.peer_address.address_type,
                peer_address=pending.peer_address,
                connection_interval=0,
                peripheral_latency=0,
                supervision_timeout=0,
                central_clock_accuracy=0,
            )
            # After the command's own Command Complete, as a controller would.
            asyncio.get_running_loop().call_soon(self.send_hci_packet, event)
        return result


class VirtualRadio:
    """A Bumble ``LocalLink`` with one central ``Device`` (the host's adapter) and sensors."""

    def __init__(self) -> None:
        self.link = LocalLink()  # type: ignore[no-untyped-call]  # Bumble leaves it unannotated
        controller = _CentralController("host", link=self.link, public_address=CENTRAL_ADDRESS)
        self.central = Device(
            name="hipthrust-host",
            address=hci.Address(CENTRAL_ADDRESS),
            host=Host(controller, AsyncPipeSink(controller)),
        )
        self.sensors: list[VirtualSensor] = []
        self._listeners: list[Callable[[Advertisement], None]] = []
        self.central.on(self.central.EVENT_ADVERTISEMENT, self._on_advertisement)
        self.scanner_class: type[BumbleScanner] = type(
            "BoundBumbleScanner", (BumbleScanner,), {"radio": self}
        )
        self.client_class: type[BumbleClient] = type(
            "BoundBumbleClient", (BumbleClient,), {"radio": self}
        )
        self.backend = BleBackend(scanner=self.scanner_class, client=self.client_class)

    async def add_sensor(self, sensor: VirtualSensor) -> None:
        """Attach ``sensor`` to the link, power it on and let it advertise."""
        sensor.attach(self.link)
        await sensor.power_on()
        self.sensors.append(sensor)

    async def start_listening(self, listener: Callable[[Advertisement], None]) -> None:
        self._listeners.append(listener)
        if not self.central.scanning:
            await self.central.start_scanning(filter_duplicates=False)

    async def stop_listening(self, listener: Callable[[Advertisement], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)
        if not self._listeners and self.central.scanning:
            await self.central.stop_scanning()

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        for listener in list(self._listeners):
            listener(advertisement)

    async def close(self) -> None:
        for sensor in self.sensors:
            await sensor.close()
        if self.central.scanning:
            await self.central.stop_scanning()
        for connection in list(self.central.connections.values()):
            await connection.disconnect()
        await self.central.power_off()


@asynccontextmanager
async def virtual_radio(*sensors: VirtualSensor) -> AsyncIterator[VirtualRadio]:
    """Run a virtual radio with ``sensors`` advertising on it; yields the radio.

    ``radio.backend`` is the ``BleBackend`` to give to ``sensor.ble``; the plain
    ``BumbleScanner``/``BumbleClient`` classes also find the innermost running radio.
    """
    bumble_log = logging.getLogger("bumble")
    if bumble_log.level == logging.NOTSET:
        # Bumble's virtual controller logs routine link events ("no connection for
        # handle ...") as warnings; they are noise for a user of --virtual.
        bumble_log.setLevel(logging.ERROR)
    radio = VirtualRadio()
    await radio.central.power_on()
    _radios.append(radio)
    try:
        for sensor in sensors:
            await radio.add_sensor(sensor)
        yield radio
    finally:
        _radios.remove(radio)
        await radio.close()


def _find_radio(bound: VirtualRadio | None) -> VirtualRadio:
    if bound is not None:
        return bound
    if not _radios:
        raise BleakError(
            "no virtual radio is running (use sensor.ble_backend_bumble.virtual_radio)"
        )
    return _radios[-1]


def _uuid_str(uuid: UUID) -> str:
    return normalize_uuid_str(uuid.to_hex_str("-").lower())


def advertisement_data(advertisement: Advertisement) -> tuple[str | None, AdvertisementData]:
    """Translate a Bumble advertisement (advertising data + scan response) into bleak's terms."""
    data = advertisement.data
    name = data.get(AdvertisingData.COMPLETE_LOCAL_NAME) or data.get(
        AdvertisingData.SHORTENED_LOCAL_NAME
    )
    uuids: list[str] = []
    for ad_type in (
        AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    ):
        for uuid_list in data.get_all(ad_type):
            uuids.extend(_uuid_str(u) for u in uuid_list if _uuid_str(u) not in uuids)
    service_data: dict[str, bytes] = {}
    for ad_type in (
        AdvertisingData.SERVICE_DATA_16_BIT_UUID,
        AdvertisingData.SERVICE_DATA_32_BIT_UUID,
        AdvertisingData.SERVICE_DATA_128_BIT_UUID,
    ):
        for entry in data.get_all(ad_type):
            if isinstance(entry, tuple) and isinstance(entry[0], UUID):
                service_data[_uuid_str(entry[0])] = bytes(entry[1])
    manufacturer_data = {
        company: bytes(payload)
        for company, payload in data.get_all(AdvertisingData.MANUFACTURER_SPECIFIC_DATA)
    }
    tx_power = data.get(AdvertisingData.TX_POWER_LEVEL)
    adv = AdvertisementData(
        local_name=name if isinstance(name, str) else None,
        manufacturer_data=manufacturer_data,
        service_data=service_data,
        service_uuids=uuids,
        tx_power=tx_power if isinstance(tx_power, int) else None,
        rssi=advertisement.rssi,
        platform_data=(advertisement,),
    )
    return adv.local_name, adv


class BumbleScanner(BaseBleakScanner):
    """bleak scanner backend: advertisements heard by the virtual radio's central device."""

    radio: ClassVar[VirtualRadio | None] = None

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._radio: VirtualRadio | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._radio = _find_radio(type(self).radio)
        await self._radio.start_listening(self._on_advertisement)

    async def stop(self) -> None:
        if self._radio is not None:
            await self._radio.stop_listening(self._on_advertisement)
            self._radio = None

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        name, adv = advertisement_data(advertisement)
        address = advertisement.address.to_string(False)
        previous = self.seen_devices.get(address)
        if previous is not None:  # merge with what was heard before, as OS stacks do
            old = previous[1]
            name = name or old.local_name
            adv = adv._replace(
                local_name=name,
                service_uuids=list(dict.fromkeys([*old.service_uuids, *adv.service_uuids])),
                service_data={**old.service_data, **adv.service_data},
                manufacturer_data={**old.manufacturer_data, **adv.manufacturer_data},
                tx_power=adv.tx_power if adv.tx_power is not None else old.tx_power,
            )
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        device = self.create_or_update_device(address, address, name, advertisement.address, adv)
        self.call_detection_callbacks(device, adv)


class BumbleClient(BaseBleakClient):
    """bleak client backend: a GATT client on the virtual radio's central device.

    ``connect_timeout_s``, when set (in a subclass), caps the connect timeout bleak asks for.
    """

    radio: ClassVar[VirtualRadio | None] = None
    connect_timeout_s: ClassVar[float | None] = None

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        super().__init__(
            address_or_ble_device,
            disconnected_callback=kwargs.get("disconnected_callback"),
            timeout=float(kwargs.get("timeout", 10.0)),
        )
        details = (
            address_or_ble_device.details if isinstance(address_or_ble_device, BLEDevice) else None
        )
        self._peer_address = (
            details if isinstance(details, hci.Address) else hci.Address(self.address)
        )
        self._name = (
            address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None
        )
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._mtu = DEFAULT_ATT_MTU
        self._closing = False
        self._subscribers: dict[int, Callable[[bytes], None]] = {}

    @property
    def name(self) -> str:
        return self._name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._mtu

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        radio = _find_radio(type(self).radio)
        timeout_s = float(kwargs.get("timeout", self._timeout))
        if self.connect_timeout_s is not None:
            timeout_s = min(timeout_s, self.connect_timeout_s)
        self._closing = False
        try:
            connection = await radio.central.connect(self._peer_address, timeout=timeout_s)
        except core.TimeoutError as exc:
            raise TimeoutError(f"{self.address}: no answer within {timeout_s:.1f} s") from exc
        except core.BaseBumbleError as exc:
            raise BleakError(f"{self.address}: connection failed: {exc}") from exc
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        self._connection = connection
        peer = Peer(connection)
        self._peer = peer
        try:
            self._mtu = await peer.request_mtu(PREFERRED_MTU)
            await peer.discover_services()
            for service in peer.services:
                await service.discover_characteristics()
                for characteristic in service.characteristics:
                    await characteristic.discover_descriptors()
        except asyncio.CancelledError:
            raise self._link_dropped("service discovery") from None
        except (core.BaseBumbleError, ATT_Error) as exc:
            await self.disconnect()
            raise BleakError(f"{self.address}: service discovery failed: {exc}") from exc
        self.services = self._service_collection(peer)

    def _service_collection(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        for service in peer.services:
            bleak_service = BleakGATTService(service, service.handle, _uuid_str(service.uuid))
            collection.add_service(bleak_service)
            for characteristic in service.characteristics:
                properties: list[CharacteristicPropertyName] = [
                    name
                    for bit, name in CHARACTERISTIC_PROPERTIES.items()
                    if bit <= 0xFF and int(characteristic.properties) & bit
                ]
                bleak_char = BleakGATTCharacteristic(
                    characteristic,
                    characteristic.handle,
                    _uuid_str(characteristic.uuid),
                    properties,
                    lambda: self._mtu - 3,
                    bleak_service,
                )
                collection.add_characteristic(bleak_char)
                for descriptor in characteristic.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor, descriptor.handle, _uuid_str(descriptor.type), bleak_char
                        )
                    )
        return collection

    def _on_disconnection(self, reason: int) -> None:
        solicited = self._closing
        self._connection = None
        self._peer = None
        self._subscribers.clear()
        log.debug("%s: disconnected (reason 0x%02X, ours: %s)", self.address, reason, solicited)
        if not solicited and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        self._closing = True
        done = asyncio.get_running_loop().create_future()
        connection.once(connection.EVENT_DISCONNECTION, lambda _reason: done.set_result(None))
        try:
            await connection.disconnect()
            await asyncio.wait_for(done, self._timeout)
        except (core.BaseBumbleError, TimeoutError) as exc:
            log.debug("%s: disconnect: %s", self.address, exc)
        self._connection = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise BleakError("the virtual radio does not pair (the hipthrust profile needs no bonding)")

    async def unpair(self) -> None:
        raise BleakError("the virtual radio does not pair (the hipthrust profile needs no bonding)")

    def _link_dropped(self, what: str) -> BleakError:
        """Bumble cancels the pending ATT request when the link drops: say so as bleak does."""
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError  # a real cancellation of our caller: let it through
        return BleakError(f"{self.address}: {what}: disconnected")

    @contextmanager
    def _att_request(self, what: str) -> Iterator[None]:
        """Bumble's failures of one ATT request, as bleak raises them."""
        try:
            yield
        except asyncio.CancelledError:
            raise self._link_dropped(what) from None
        except ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc
        except core.BaseBumbleError as exc:
            raise BleakError(f"{self.address}: {what} failed: {exc}") from exc

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError(f"{self.address}: not connected")
        return self._peer

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return await self._read(characteristic.handle)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return await self._read(descriptor.handle)

    async def _read(self, handle: int) -> bytearray:
        peer = self._require_peer()
        with self._att_request(f"read of handle {handle}"):
            return bytearray(await peer.read_value(handle))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        await self._write(characteristic.handle, bytes(data), response)

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        await self._write(descriptor.handle, bytes(data), True)

    async def _write(self, handle: int, data: bytes, response: bool) -> None:
        peer = self._require_peer()
        with self._att_request(f"write of handle {handle}"):
            await peer.write_value(handle, data, with_response=response)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        peer = self._require_peer()

        def subscriber(value: bytes) -> None:
            callback(bytearray(value))

        with self._att_request("subscribe"):
            await peer.subscribe(characteristic.obj, subscriber, prefer_notify=True)
        self._subscribers[characteristic.handle] = subscriber

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require_peer()
        subscriber = self._subscribers.pop(characteristic.handle, None)
        with self._att_request("unsubscribe"):
            await peer.unsubscribe(characteristic.obj, subscriber)
