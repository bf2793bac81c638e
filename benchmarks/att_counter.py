"""Counts ATT traffic in this process's Bumble GATT client (for the BLE benchmarks and tests).

Every request that waits for a response is a round trip, counted in "round_trips" and, by
what it is for, in one of KINDS; commands (writes without response) and notifications are
one-way and counted apart. Importing this module installs the counters.
"""

from __future__ import annotations

from bumble import att, gatt, gatt_client

KINDS = ("mtu", "discovery", "subscribe", "write", "read", "other")
counts = {"round_trips": 0, "notifications": 0, "commands": 0, **{kind: 0 for kind in KINDS}}
_send_request = gatt_client.Client.send_request
_send_command = gatt_client.Client.send_command
_on_notification = gatt_client.Client.on_att_handle_value_notification
_DISCOVERY = (att.ATT_Read_By_Group_Type_Request, att.ATT_Find_By_Type_Value_Request,
              att.ATT_Read_By_Type_Request, att.ATT_Find_Information_Request)
_READS = (att.ATT_Read_Request, att.ATT_Read_Blob_Request)


def kind_of(client: gatt_client.Client, request: att.ATT_PDU) -> str:
    """What a request is for: a write to a CCCD is subscribing, any other write is data."""
    if isinstance(request, att.ATT_Exchange_MTU_Request):
        return "mtu"
    if isinstance(request, _DISCOVERY):
        return "discovery"
    if isinstance(request, _READS):
        return "read"
    if isinstance(request, att.ATT_Write_Request):
        handle = request.attribute_handle
        cccds = {desc.handle for service in client.services for char in service.characteristics
                 for desc in char.descriptors
                 if desc.type == gatt.GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR}
        return "subscribe" if handle in cccds else "write"
    return "other"


async def _counting_send_request(self, request):
    counts["round_trips"] += 1
    counts[kind_of(self, request)] += 1
    return await _send_request(self, request)


async def _counting_send_command(self, command):
    counts["commands"] += 1
    return await _send_command(self, command)


def _counting_notification(self, notification):
    counts["notifications"] += 1
    return _on_notification(self, notification)


gatt_client.Client.send_request = _counting_send_request
gatt_client.Client.send_command = _counting_send_command
gatt_client.Client.on_att_handle_value_notification = _counting_notification


def snapshot() -> dict:
    return dict(counts)


def since(before: dict) -> dict:
    return {k: counts[k] - before[k] for k in counts}
