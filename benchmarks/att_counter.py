"""Counts ATT traffic in this process's Bumble GATT client (for the BLE benchmarks).

Every request that waits for a response is a round trip; notifications are one-way.
"""

from __future__ import annotations

from bumble import gatt_client

counts = {"round_trips": 0, "notifications": 0}
_send_request = gatt_client.Client.send_request
_on_notification = gatt_client.Client.on_att_handle_value_notification


async def _counting_send_request(self, request):
    counts["round_trips"] += 1
    return await _send_request(self, request)


def _counting_notification(self, notification):
    counts["notifications"] += 1
    return _on_notification(self, notification)


gatt_client.Client.send_request = _counting_send_request
gatt_client.Client.on_att_handle_value_notification = _counting_notification


def snapshot() -> dict:
    return dict(counts)


def since(before: dict) -> dict:
    return {k: counts[k] - before[k] for k in counts}
