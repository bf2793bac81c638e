# The lock's event log: the record of every visit, so it must survive power cuts.
#
# Records go into segment files named by their first sequence number. Each record carries a
# CRC, is written with one write() and the file closed (LittleFS commits on close), so a power
# cut tears at most the record being written. A reader stops a segment at its first bad record.
# At boot a torn tail is cut off by writing the whole records to a new file and renaming it over
# the segment (atomic), so appends never land behind garbage. Old segments are deleted whole,
# so the log stays bounded.

import os
import time

from micropython import const

import wire

_MAX_READ_BYTES = const(4096)  # a segment of 64 records of 8 fields is 2.9 KB


def _mkdir(path):
    try:
        os.mkdir(path)
    except OSError:
        pass  # exists already


class EventLog:
    def __init__(self, directory, segments=8, segment_records=64, clock=time.time):
        self._dir = directory
        self._max_segments = segments
        self._segment_records = segment_records
        self._clock = clock
        self.recovered_bytes = 0  # bytes of a torn record found at open (a power cut)
        _mkdir(directory)
        names = os.listdir(directory)
        for name in names:
            if name.endswith(".tmp"):
                os.remove(directory + "/" + name)  # a repair cut short: the segment is intact
        names = [n for n in names if n.endswith(".log")]
        self._segments = sorted(int(n[:-4]) for n in names)
        self.next_seq = 1
        self._tail_records = 0
        if self._segments:
            self._recover()

    def _path(self, first_seq):
        return "%s/%08d.log" % (self._dir, first_seq)

    def _read_segment(self, first_seq):
        try:
            with open(self._path(first_seq), "rb") as f:
                return f.read(_MAX_READ_BYTES)
        except OSError:
            return b""

    def _recover(self):
        first = self._segments[-1]
        buf = self._read_segment(first)
        offset = 0
        count = 0
        last_seq = first - 1
        while True:
            size = wire.record_size(buf, offset)
            if not size:
                break
            last_seq = wire.decode_record(buf, offset)[0]
            offset += size
            count += 1
        self.next_seq = last_seq + 1
        self._tail_records = count
        self.recovered_bytes = len(buf) - offset
        if self.recovered_bytes:
            path = self._path(first)
            with open(path + ".tmp", "wb") as f:
                f.write(buf[:offset])
            os.rename(path + ".tmp", path)

    @property
    def first_seq(self):
        return self._segments[0] if self._segments else self.next_seq

    def append(self, event_type, fields=()):
        """Write one event; return its sequence number once it is on flash."""
        seq = self.next_seq
        record = wire.encode_record(seq, int(self._clock()), event_type, fields)
        if not self._segments or self._tail_records >= self._segment_records:
            self._start_segment(seq)
        with open(self._path(self._segments[-1]), "ab") as f:
            f.write(record)
        self.next_seq = seq + 1
        self._tail_records += 1
        return seq

    def _start_segment(self, seq):
        with open(self._path(seq), "wb"):
            pass
        self._segments.append(seq)
        self._tail_records = 0
        while len(self._segments) > self._max_segments:
            os.remove(self._path(self._segments.pop(0)))

    def read(self, from_seq=0, limit=32):
        """Up to limit records (seq, time_s, type, fields) with seq >= from_seq, oldest first."""
        out = []
        segments = self._segments
        for i in range(len(segments)):
            if i + 1 < len(segments) and segments[i + 1] <= from_seq:
                continue  # every record of this segment is older than from_seq
            buf = self._read_segment(segments[i])
            offset = 0
            while len(out) < limit:
                size = wire.record_size(buf, offset)
                if not size:
                    break
                record = wire.decode_record(buf, offset)
                if record[0] >= from_seq:
                    out.append(record)
                offset += size
            if len(out) >= limit:
                break
        return out
