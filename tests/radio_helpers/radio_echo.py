"""The test peripheral's GATT layout, shared by the radio tests and their client processes."""

from __future__ import annotations

import asyncio

SERVICE = "5c3a0001-8f4e-4d4c-9a0e-6b1f0c2d3e4f"
WRITE = "5c3a0002-8f4e-4d4c-9a0e-6b1f0c2d3e4f"  # write (both kinds): echoed on NOTIFY
NOTIFY = "5c3a0003-8f4e-4d4c-9a0e-6b1f0c2d3e4f"
READ_ONLY = "5c3a0004-8f4e-4d4c-9a0e-6b1f0c2d3e4f"
REFUSING = "5c3a0005-8f4e-4d4c-9a0e-6b1f0c2d3e4f"  # claims "write"; the server refuses it
STALLING = "5c3a0006-8f4e-4d4c-9a0e-6b1f0c2d3e4f"  # a write the server never answers
OTHER_SERVICE = "5c3a9999-8f4e-4d4c-9a0e-6b1f0c2d3e4f"  # advertised by nobody
READ_ONLY_VALUE = b"hemlas"
ADV_INTERVAL_MS = 100  # as the lock will set: a connect waits at most this for an advertisement
STALLED = "stalled"  # the Device's event when a write to STALLING arrives


async def add_echo_peripheral(hub, name: str, address: str, connectable: bool = True):
    """A plain Bumble peripheral on the hub: echo service, name in the scan response."""
    from bumble.core import UUID, AdvertisingData
    from bumble.device import AdvertisingType
    from bumble.att import Attribute
    from bumble.gatt import Characteristic, CharacteristicValue, Service

    device = await hub.add_peripheral(name, address)
    notify = Characteristic(NOTIFY, Characteristic.Properties.NOTIFY, Attribute.READABLE, b"")

    async def echo(_connection, value: bytes) -> None:
        await device.notify_subscribers(notify, value)

    async def stall(_connection, _value: bytes) -> None:
        device.emit(STALLED)
        await asyncio.Future()  # cancelled when the radio's loop shuts down

    device.add_service(Service(SERVICE, [
        Characteristic(WRITE, Characteristic.Properties.WRITE
                       | Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
                       Attribute.WRITEABLE, CharacteristicValue(write=echo)),
        notify,
        Characteristic(READ_ONLY, Characteristic.Properties.READ, Attribute.READABLE,
                       READ_ONLY_VALUE),
        Characteristic(REFUSING, Characteristic.Properties.WRITE, Attribute.READABLE, b""),
        Characteristic(STALLING, Characteristic.Properties.WRITE, Attribute.WRITEABLE,
                       CharacteristicValue(write=stall)),
    ]))
    advertising = AdvertisingData([
        (AdvertisingData.FLAGS, bytes([0x06])),  # LE general discoverable, no BR/EDR
        (AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, bytes(UUID(SERVICE))),
    ])
    scan_response = AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME, name.encode())])
    # auto_restart: advertise again after each disconnection, as the lock's firmware does.
    await device.start_advertising(
        AdvertisingType.UNDIRECTED_CONNECTABLE_SCANNABLE if connectable
        else AdvertisingType.UNDIRECTED_SCANNABLE,
        auto_restart=True, advertising_data=bytes(advertising),
        scan_response_data=bytes(scan_response), advertising_interval_min=ADV_INTERVAL_MS,
        advertising_interval_max=ADV_INTERVAL_MS)
    return device
