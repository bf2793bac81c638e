"""The virtual board: the real firmware on the MicroPython unix port with simulated hardware."""

from .board import VirtualBoard

__all__ = ["VirtualBoard"]
