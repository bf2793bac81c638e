"""One base error for everything hemlas raises, with subclasses that carry their data."""


class HemlasError(Exception):
    """Base of every error hemlas raises on purpose."""


class BoardError(HemlasError):
    """A board file is missing or malformed."""


class VirtualBoardError(HemlasError):
    """The virtual board could not start, or its firmware stopped answering."""

    def __init__(self, message: str, output: str = ""):
        last = output.strip().splitlines()[-1:] if output else []
        super().__init__(f"{message}: {last[0]}" if last else message)
        self.output = output  # what the firmware printed last, for the report
