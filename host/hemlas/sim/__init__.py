"""The virtual board: the real firmware on the MicroPython unix port with simulated hardware."""

from ..errors import VirtualBoardError
from .board import VirtualBoard
from .radio import VirtualRadio

__all__ = ["VirtualBoard", "VirtualBoardError", "VirtualRadio"]
