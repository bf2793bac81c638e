# Type of the board file, which lives in the board's flash as board.py (see boards/).
# Only for the type checker; not deployed.
BOARD: dict
