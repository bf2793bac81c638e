"""Power cuts during event-log writes: nothing earlier is ever lost or corrupted.

The firmware's own EventLog runs on the MicroPython unix port and is killed (SIGKILL) at
random instants, 60 times. A kill cannot tear a single write() on a POSIX filesystem, so after
half of the cuts the test also leaves a random prefix of the record in flight on flash, as a
power cut in the middle of a write would. After each cut the log is reopened by
the firmware and checked against every acknowledgement the writer printed.
"""

import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "firmware"))
import micropython_shim  # noqa: E402

micropython_shim.install()
import wire  # noqa: E402  (the firmware's module, as on the board)
from eventlog import EventLog  # noqa: E402

from hemlas.sim.build import micropython_executable  # noqa: E402

CUTS = 60
# Small segments, so cuts land on segment starts and deletions too; enough of them that a torn
# segment is still there to check after the next run.
SEGMENTS, SEGMENT_RECORDS = 32, 8
RECORD_SIZE = len(wire.encode_record(0, 0, wire.EVENT_BATTERY, (0, 0, 0)))


def _fields_for(seq):
    return (seq * 7, -seq, seq % 3)


def _run_writer_and_cut(log_dir: Path, rng: random.Random) -> tuple[int, int]:
    """Start the writer, kill it at a random instant; return (first seq, last acknowledged)."""
    proc = subprocess.Popen(
        [micropython_executable(), "-X", "heapsize=96K", str(ROOT / "tests/fw/log_writer.py"), str(log_dir),
         str(SEGMENTS), str(SEGMENT_RECORDS)],
        env={"MICROPYPATH": f"{ROOT / 'firmware'}:.frozen"}, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    first = int(proc.stdout.readline().split()[1])
    acked = [first - 1]

    def read():
        for line in proc.stdout:
            if line.startswith("ok "):
                acked.append(int(line.split()[1]))

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(rng.uniform(0.0, 0.004))  # a few dozen records at most: a torn one stays in view
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    reader.join()
    return first, acked[-1]


def _tear_record_in_flight(log_dir: Path, rng: random.Random) -> None:
    """Leave on flash a random prefix of the record the firmware would write next.

    That is what a power cut in the middle of a write leaves behind; where the tail segment is
    full, the record in flight is the first of a new segment file.
    """
    log = EventLog(str(log_dir), SEGMENTS, SEGMENT_RECORDS)
    seq = log.next_seq
    record = wire.encode_record(seq, 1000, wire.EVENT_BATTERY, _fields_for(seq))
    tail = sorted(log_dir.glob("*.log"))[-1]
    if tail.stat().st_size >= SEGMENT_RECORDS * RECORD_SIZE or tail.stat().st_size % RECORD_SIZE:
        tail = log_dir / f"{seq:08d}.log"
    with open(tail, "ab") as f:
        f.write(record[: rng.randrange(1, RECORD_SIZE)])


@pytest.mark.virtual_board
def test_sixty_random_power_cuts_lose_nothing_written(tmp_path):
    rng = random.Random(20261125)
    log_dir = tmp_path / "log"
    last_acked = 0
    torn = 0
    for cut in range(CUTS):
        first, acked = _run_writer_and_cut(log_dir, rng)
        assert first == last_acked + 1
        last_acked = max(last_acked, acked)
        if rng.random() < 0.5:
            _tear_record_in_flight(log_dir, rng)
            torn += 1
        log = EventLog(str(log_dir), SEGMENTS, SEGMENT_RECORDS)
        records = log.read(0, 10_000)
        seqs = [r[0] for r in records]
        assert seqs == list(range(seqs[0], seqs[-1] + 1)), f"gap after cut {cut}"
        assert seqs[-1] in (last_acked, last_acked + 1), "at most the record in flight is extra"
        assert seqs[0] <= max(1, last_acked - (SEGMENTS - 1) * SEGMENT_RECORDS + 1), "kept too little"
        for seq, _, event_type, fields in records:
            assert event_type == wire.EVENT_BATTERY and fields == _fields_for(seq), f"record {seq} corrupted"
        last_acked = seqs[-1]  # an unacknowledged but whole record is on flash: it counts
    assert torn >= 5, "the tearing path was exercised"
    assert last_acked > CUTS, "the writer made progress between cuts"


@pytest.mark.virtual_board
@pytest.mark.parametrize("board", ["virtual", "esp32c3"])
def test_power_cuts_during_bolt_moves_on_the_virtual_board(boot_board, board):
    """Cut the power mid-move ten times: the log keeps every record, the state is re-read,
    and the next move still ends where it should (on the C3, with no switches, by homing)."""
    from hemlas.sim import VirtualBoardError

    rng = random.Random(7)
    vb = boot_board(board)
    switches = vb.board["pins"]["limit_locked"] is not None
    kept: list = []
    for _ in range(10):
        command = "lock" if vb.bolt_position < 0.5 else "unlock"

        def move():
            try:
                vb.command(command)
            except VirtualBoardError:
                pass  # the power went while it ran: that is the point

        mover = threading.Thread(target=move)
        mover.start()
        time.sleep(rng.uniform(0.0, 0.8))
        vb.power_cut()
        mover.join()
        ready = vb.power_on()
        log = _whole_log(vb)
        assert log[: len(kept)] == kept, "an earlier record changed or vanished"
        assert log[-1][2] == wire.EVENT_BOOT
        position = vb.bolt_position
        expected = (wire.LOCK_LOCKED if position >= 0.995 and switches else
                    wire.LOCK_UNLOCKED if position <= 0.005 and switches else wire.LOCK_UNKNOWN)
        assert ready["state"] == expected == log[-1][3][1]
        kept = log
    assert vb.command("lock")["state"] == wire.LOCK_LOCKED  # and it still works
    assert vb.bolt_position >= 0.99
    assert vb.command("unlock")["state"] == wire.LOCK_UNLOCKED
    assert vb.bolt_position <= 0.01


def _whole_log(vb):
    records, from_seq = [], 0
    while True:
        answer = vb.command(f"log {from_seq}")
        if not answer["records"]:
            return records
        records += answer["records"]
        from_seq = records[-1][0] + 1
