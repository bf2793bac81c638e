"""The simulated `bluetooth` module behaves as MicroPython v1.28's NimBLE binding on an ESP32
(extmod/modbluetooth.c, extmod/nimble/modbluetooth_nimble.c, docs/library/bluetooth.rst), and
the firmware copes with it: a bounded notify pool that raises OSError(ENOMEM), IRQ addresses
that are memoryviews valid only during the handler, config('mac') as (type, bytes), the GAP
name applied, read requests decided by the handler, unknown config keys refused.

The module's own behaviour is probed by a MicroPython script run with mpremote on a blank
virtual unit (its serial REPL), against the real harness and radio, with a bleak client."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hemlas.client import LockClient
from hemlas.firmware import wire
from hemlas.sim import VirtualBoard

from fleet_helpers import issue

pytestmark = pytest.mark.virtual_board

MPREMOTE = str(Path(sys.executable).parent / "mpremote")
ENOMEM = 12  # py/mperrno.h MP_ENOMEM, what ble_hs_err_to_errno makes of BLE_HS_ENOMEM
SERVICE = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
OPEN_CHAR = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"  # read: the handler rewrites the value first
DENIED_CHAR = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"  # read: the handler refuses it
NOTIFY_CHAR = "6e400004-b5a3-f393-e0a9-e50e24dcca9e"
GAP_NAME = "HL-FIDELITY"
BURST = 200

# Runs on the unit. Each probe prints one JSON line, so one wrong behaviour fails one test.
PROBE = """
import asyncio, json, bluetooth
ble = bluetooth.BLE()
ble.active(True)
def out(key, value):
    print("@@" + json.dumps({key: value}))
def probe(key, fn):
    try:
        out(key, fn())
    except Exception as err:
        out(key, [type(err).__name__, err.args[0] if err.args else None])
probe("mac", lambda: [repr(type(ble.config("mac"))), ble.config("mac")[0], repr(type(ble.config("mac")[1])), len(ble.config("mac")[1])])
ble.config(gap_name=%(name)r)
probe("gap_name", lambda: repr(ble.config("gap_name")))
probe("unknown_set", lambda: ble.config(no_such_key=1))
probe("unknown_get", lambda: ble.config("rxbuf"))
((open_h, denied_h, notify_h),) = ble.gatts_register_services(((bluetooth.UUID(%(service)r), (
    (bluetooth.UUID(%(open)r), 0x0002), (bluetooth.UUID(%(denied)r), 0x0002),
    (bluetooth.UUID(%(notify)r), 0x0010))),))
ble.gatts_write(open_h, b"stale")
state = {"conn": None, "kept": None, "copy": None, "reads": 0}
def irq(event, data):
    if event == 1:
        state["conn"] = data[0]
        state["kept"] = data[2]
        state["copy"] = bytes(data[2])
    elif event == 4:
        state["reads"] += 1
        if data[1] == denied_h:
            return 0x02  # _GATTS_ERROR_READ_NOT_PERMITTED
        ble.gatts_write(open_h, b"fresh")
irq_ok = ble.irq(irq)
ble.gap_advertise(20000, b"\\x02\\x01\\x06")
async def main():
    while state["conn"] is None:
        await asyncio.sleep_ms(10)
    out("addr", [bytes(state["kept"]).hex(), state["copy"].hex()])
    accepted, errnos = 0, []
    for i in range(%(burst)d):
        try:
            ble.gatts_notify(state["conn"], notify_h, b"%%03d" %% i)
            accepted += 1
        except OSError as err:
            errnos.append(err.args[0])
    out("burst", [accepted, errnos])
    for _ in range(500):
        if state["reads"] >= 2:
            break
        await asyncio.sleep_ms(10)
    out("reads", state["reads"])
asyncio.run(main())
""" % {"name": GAP_NAME, "service": SERVICE, "open": OPEN_CHAR, "denied": DENIED_CHAR,
       "notify": NOTIFY_CHAR, "burst": BURST}


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    """Run PROBE on a blank unit whose radio never drains (a central that stopped taking
    packets), connect to it, read its characteristics; what each side saw."""
    from bleak import BleakClient, BleakScanner

    from hemlas.radio import config

    with VirtualBoard(serial=True, factory_image=False) as vb:
        vb.ble.stalled = True  # nothing leaves the pool: the burst sees exactly its size
        script = tmp_path_factory.mktemp("probe") / "probe.py"
        script.write_text(PROBE)
        run = subprocess.Popen([MPREMOTE, "connect", vb.serial_port, "run", str(script)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(run.stdout), daemon=True)
        reader.start()
        seen: dict = {}

        async def client():
            kwargs = config.client_kwargs(vb.radio.spec)
            device = await BleakScanner.find_device_by_address(
                vb.address, timeout=20, **config.scanner_kwargs(vb.radio.spec))
            assert device is not None, f"the probe never advertised: {lines}"
            async with BleakClient(device, **kwargs) as peer:
                seen["gap_name"] = (await peer.read_gatt_char("00002a00-0000-1000-8000-00805f9b34fb")).decode()
                seen["open"] = bytes(await peer.read_gatt_char(OPEN_CHAR))
                try:
                    await peer.read_gatt_char(DENIED_CHAR)
                    seen["denied"] = "read"
                except Exception as err:  # bleak's error for an ATT error response
                    seen["denied"] = str(err)
                await asyncio.sleep(0.5)

        try:
            asyncio.run(client())
            run.wait(timeout=60)
        finally:
            if run.poll() is None:
                run.kill()
        reader.join(5)
        got = {}
        for line in lines:
            if "@@" in line:
                got.update(json.loads(line.split("@@", 1)[1]))
        yield got, seen, getattr(vb.ble, "notify_pool", None), "".join(lines)


def test_config_mac_is_address_type_and_six_bytes(probed):
    got, _, _, out = probed
    assert got.get("mac") == ["<class 'tuple'>", 1, "<class 'bytes'>", 6], out


def test_config_gap_name_is_applied_to_the_gap_service(probed):
    got, seen, _, out = probed
    assert got.get("gap_name") == repr(GAP_NAME.encode()), out  # read back as bytes
    assert seen["gap_name"] == GAP_NAME  # the name a central reads from 0x1800/0x2A00


def test_unknown_config_keys_raise_value_error(probed):
    got, _, _, out = probed
    assert got.get("unknown_set") == ["ValueError", "unknown config param"], out
    assert got.get("unknown_get") == ["ValueError", "unknown config param"], out  # no rxbuf on an ESP32


def test_irq_address_is_valid_only_during_the_handler(probed):
    got, _, _, out = probed
    kept, copied = got["addr"]
    assert copied != "000000000000" and len(copied) == 12, out
    assert kept != copied, "a memoryview kept past the handler must not still hold the address"


def test_read_requests_reach_the_handler_which_decides(probed):
    got, seen, _, out = probed
    assert got.get("reads") == 2, out
    assert seen["open"] == b"fresh"  # gatts_write in the handler, before the value goes out
    assert seen["denied"] != "read"


def test_a_burst_of_notifies_fills_the_pool_then_raises_enomem(probed):
    got, _, pool, out = probed
    accepted, errnos = got["burst"]
    assert accepted == pool, out
    assert errnos == [ENOMEM] * (BURST - pool)


# ---- the firmware through a small pool ------------------------------------------------------

@pytest.fixture
def small_pool_lock(radio, boot_board, fleet):
    vb = boot_board("virtual", radio=radio)
    vb.ble.notify_pool = 4  # 14 fragments a page at MTU 23: each page fills it three times over
    vb.provision(fleet)
    issue(fleet, vb.lock_id, wire.ROLE_TECHNICIAN)
    return vb


def test_the_whole_log_at_mtu_23_arrives_through_a_pool_of_four(small_pool_lock):
    vb = small_pool_lock

    async def go():
        async with LockClient(vb.lock_id, mtu=None, role=wire.ROLE_TECHNICIAN) as lock:
            assert lock.mtu == 23
            await lock.lock()
            await lock.unlock()
            return await lock.read_log()

    records = asyncio.run(go())
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    assert [r.type for r in records if r.type in (wire.EVENT_LOCKED, wire.EVENT_UNLOCKED)][-2:] == \
        [wire.EVENT_LOCKED, wire.EVENT_UNLOCKED]
