# Appends event records forever with the firmware's EventLog, printing "ok SEQ" after each
# append returns. tests/test_power_cuts.py kills it at random instants (a power cut).
# Usage: micropython log_writer.py DIR SEGMENTS SEGMENT_RECORDS

import sys

import wire
from eventlog import EventLog


def fields_for(seq):
    return (seq * 7, -seq, seq % 3)


log = EventLog(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), clock=lambda: 1000)
print("start %d" % log.next_seq)
while True:
    seq = log.append(wire.EVENT_BATTERY, fields_for(log.next_seq))  # not noise: the log bounds faults per hour
    print("ok %d" % seq)
