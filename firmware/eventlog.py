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

_COPY_CHUNK = const(128)  # small steps when repairing a segment: no large buffer needed


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
        self.synced = 0  # records below this seq were read by the host (set by the app)
        # Noise: [ticks this hour began, records written in it, records dropped since the
        # last counting record].
        self._noise = [time.ticks_ms(), 0, 0]
        _mkdir(directory)
        names = os.listdir(directory)
        for name in names:
            if name.endswith(".tmp"):
                os.remove(directory + "/" + name)  # a repair cut short: the segment is intact
        # A stray file (not NNNNNNNN.log) is left alone, not a reason to fail every boot.
        self._segments = sorted(int(n[:-4]) for n in names if n.endswith(".log") and n[:-4].isdigit())
        self.next_seq = 1
        self._tail_records = 0
        if self._segments:
            self._recover()

    def _path(self, first_seq):
        return "%s/%08d.log" % (self._dir, first_seq)

    def _records(self, first_seq):
        """(offset, record bytes) of each whole record at the start of a segment.

        Read a record at a time: a whole segment in one buffer would need kilobytes of
        contiguous heap, which a fragmented ESP32 heap may not have.
        """
        try:
            f = open(self._path(first_seq), "rb")
        except OSError:
            return
        with f:
            offset = 0
            while True:
                head = f.read(2)
                if len(head) < 2 or head[1] > wire.MAX_FIELDS:
                    return
                record = head + f.read(wire.record_length(head[1]) - 2)
                if wire.record_size(record) != len(record):
                    return
                yield offset, record
                offset += len(record)

    def _recover(self):
        first = self._segments[-1]
        path = self._path(first)
        whole = 0
        count = 0
        last_seq = first - 1
        for offset, record in self._records(first):
            last_seq = wire.decode_record(record)[0]
            whole = offset + len(record)
            count += 1
        self.next_seq = last_seq + 1
        self._tail_records = count
        try:
            size = os.stat(path)[6]
        except OSError:
            size = 0
        self.recovered_bytes = size - whole
        if self.recovered_bytes:
            self._cut(path, whole)

    def _cut(self, path, length):
        """Keep the first length bytes of a file: copy them and rename over it (atomic)."""
        with open(path, "rb") as src, open(path + ".tmp", "wb") as dst:
            while length > 0:
                chunk = src.read(min(length, _COPY_CHUNK))
                if not chunk:
                    break
                dst.write(chunk)
                length -= len(chunk)
        os.rename(path + ".tmp", path)

    @property
    def first_seq(self):
        return self._segments[0] if self._segments else self.next_seq

    def append(self, event_type, fields=()):
        """Write one event; return its sequence number once it is on flash (0: noise dropped)."""
        if event_type in (wire.EVENT_FAULT, wire.EVENT_AUTH_FAILED, wire.EVENT_AUTH_SUPPRESSED):
            if time.ticks_diff(time.ticks_ms(), self._noise[0]) >= 3_600_000:  # a new hour
                self._noise[0] = time.ticks_ms()
                self._noise[1] = 0
            segments = self._segments
            count = fields[0] if event_type == wire.EVENT_AUTH_SUPPRESSED else 1
            # 12 an hour, and only with room that deletes no segment the host has not read
            if self._noise[1] >= 12 or not (not segments or self._tail_records < self._segment_records
                                      or len(segments) < self._max_segments or segments[1] <= self.synced):
                self._noise[2] += count
                return 0
            self._noise[1] += 1
            if self._noise[2]:  # this record and those dropped before it, as one counting record
                event_type, fields = wire.EVENT_AUTH_SUPPRESSED, (self._noise[2] + count,)
                self._noise[2] = 0
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
            records = self._records(segments[i])
            for _, raw in records:
                record = wire.decode_record(raw)
                if record[0] >= from_seq:
                    out.append(record)
                    if len(out) >= limit:
                        records.close()  # closes the file now, not when the GC finds it
                        return out
        return out
