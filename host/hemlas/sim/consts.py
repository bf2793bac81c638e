"""Folding the wire protocol's constants into the firmware at build time.

MicroPython drops a module-level ``_NAME = const(value)`` from the module and inlines its
value where it is used -- but only within one module, and only for names starting with an
underscore. Every firmware module reads the protocol's numbers as ``wire.STATUS_OK`` and so
on, which keeps ~110 names, their qstrs and a large globals dict alive in RAM on the lock
(about 6 KiB of a 96 KiB heap). The host needs those public names, and wire.py stays the one
source for both; so the build does across modules what mpy-cross does within one:

- in wire.py each public integer constant ``NAME = const(v)`` becomes ``_NAME = const(v)`` and
  its uses within wire.py follow the new name (mpy-cross then inlines them);
- in the other firmware modules each ``wire.NAME`` of such a constant becomes its value.

Only integer literals are folded; anything else is left as written. The rewriting keeps every
line where it was, though the build then drops line numbers (``mpy-cross -O3``,
``build.FIRMWARE_MPY_OPTIONS``): a traceback names the file and the function, not the line. On
a board the same compiled files are deployed, so the lock runs exactly what the virtual board
runs.
"""

from __future__ import annotations

import ast
import re

_DEFINITION = re.compile(r"^([A-Z][A-Z0-9_]*) = const\(([^()]+)\)", re.M)
_WIRE_USE = re.compile(r"\bwire\.([A-Z][A-Z0-9_]*)\b")


def wire_constants(wire_source: str) -> dict[str, int]:
    """The public integer constants wire.py defines with const(), by name."""
    found = {}
    for name, value in _DEFINITION.findall(wire_source):
        try:
            literal = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            continue
        if isinstance(literal, int) and not isinstance(literal, bool):
            found[name] = literal
    return found


def fold_wire(wire_source: str, constants: dict[str, int]) -> str:
    """wire.py with its public integer constants made private (so mpy-cross inlines them)."""
    if not constants:
        return wire_source
    names = re.compile(r"(?<![\w.])(" + "|".join(sorted(constants, key=len, reverse=True)) + r")\b")
    return names.sub(r"_\1", wire_source)


def fold_uses(module_source: str, constants: dict[str, int]) -> str:
    """A firmware module with each wire.NAME of an integer constant replaced by its value."""

    def value(match: re.Match) -> str:
        name = match.group(1)
        return str(constants[name]) if name in constants else match.group(0)

    return _WIRE_USE.sub(value, module_source)
