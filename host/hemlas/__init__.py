"""hemlås: firmware tooling, virtual board and field client for home-care smart locks."""

__version__ = "0.1.0"
