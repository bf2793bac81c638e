"""The bleak scanner backend for the virtual radio."""

from __future__ import annotations

from typing import Any, Literal

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bumble.core import AdvertisingData
from bumble.device import Advertisement, Device

from .bleak_backend import BumbleArgs, SharedRadio, uuid_str

_T = AdvertisingData.Type
_UUID_LISTS = (
    _T.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    _T.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    _T.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    _T.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    _T.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    _T.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
)
_SERVICE_DATA = (_T.SERVICE_DATA_16_BIT_UUID, _T.SERVICE_DATA_32_BIT_UUID,
                 _T.SERVICE_DATA_128_BIT_UUID)


class BumbleBleakScanner(BaseBleakScanner):
    """Scans the virtual radio; use through BleakScanner(backend=..., bumble=...).

    In active mode (the default) each report is an advertisement merged with its scan
    response, as the platform backends report it: the lock's name comes from the scan
    response, its service UUID from the advertisement.

    Args:
        detection_callback: called with each (BLEDevice, AdvertisementData).
        service_uuids: report only advertisers of one of these services.
        scanning_mode: "active" (asks for scan responses) or "passive".
        bumble: where the radio is (see BumbleArgs).
    """

    def __init__(self, detection_callback: AdvertisementDataCallback | None,
                 service_uuids: list[str] | None,
                 scanning_mode: Literal["active", "passive"], *, bumble: BumbleArgs,
                 **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self._active = scanning_mode == "active"
        self._transport = bumble["transport"]
        self._radio: SharedRadio | None = None
        self._device: Device | None = None  # the radio's host; it outlives a lost radio

    async def start(self) -> None:
        """Start scanning.

        Raises:
            BleakBluetoothNotAvailableError: if the virtual radio is not running.
        """
        self.seen_devices = {}
        radio = self._radio = await SharedRadio.acquire(self._transport)
        self._device = radio.device
        assert self._device is not None  # acquire() powered it on
        self._device.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        await radio.start_scanning(self._active)

    async def stop(self) -> None:
        """Stop scanning."""
        radio, self._radio = self._radio, None
        if radio is None or self._device is None:
            return
        self._device.remove_listener(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        try:
            await radio.stop_scanning()
        finally:
            await radio.release()

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        data = advertisement.data
        service_uuids = [uuid_str(u) for kind in _UUID_LISTS for uuids in data.get_all(kind)
                         for u in uuids]
        if not self.is_allowed_uuid(service_uuids):
            return
        names = data.get_all(_T.COMPLETE_LOCAL_NAME) or data.get_all(_T.SHORTENED_LOCAL_NAME)
        tx_power = data.get_all(_T.TX_POWER_LEVEL)
        adv = AdvertisementData(
            local_name=names[0] if names else None,
            manufacturer_data=dict(data.get_all(_T.MANUFACTURER_SPECIFIC_DATA)),
            service_data={uuid_str(u): value for kind in _SERVICE_DATA
                          for u, value in data.get_all(kind)},
            service_uuids=service_uuids,
            tx_power=tx_power[0] if tx_power else None,
            rssi=advertisement.rssi,
            platform_data=(advertisement,),
        )
        address = advertisement.address.to_string(with_type_qualifier=False)
        known = self.seen_devices.get(address)
        # A report without a name (passive scanning) keeps the name seen before, as BlueZ does.
        name = adv.local_name or (known[0].name if known else None)
        device = self.create_or_update_device(address, address, name, advertisement, adv)
        self.call_detection_callbacks(device, adv)
