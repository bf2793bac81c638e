"""A radio hub in a process of its own, with one echo peripheral, for tests that stop it.

Usage: hub.py SOCKET NAME ADDRESS. Prints {"up": true} when clients may attach, then
{"stalled": true} whenever a write to STALLING arrives; runs until killed or stdin closes.
"""

from __future__ import annotations

import json
import sys

from radio_echo import STALLED, add_echo_peripheral

from hemlas.radio.hub import RadioThread


def emit(**result) -> None:
    print(json.dumps(result), flush=True)


def main(socket: str, name: str, address: str) -> None:
    radio = RadioThread(socket)
    hub = radio.start()

    async def add() -> None:
        device = await add_echo_peripheral(hub, name, address)
        device.on(STALLED, lambda: emit(stalled=True))

    radio.run(add())
    emit(up=True)
    sys.stdin.readline()
    radio.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
