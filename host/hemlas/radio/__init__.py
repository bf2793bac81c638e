"""The radio the host talks BLE through: the platform's own, or the virtual one.

- config: which radio is used (HEMLAS_RADIO), as keyword arguments for bleak.
- hub: the virtual radio itself, run by the virtual board's harness (imports bumble).
- bleak_scanner, bleak_client: the bleak backend for the virtual radio (imports bumble).

Importing this package loads neither bumble nor a backend.
"""

from .config import RadioConfigError, client_kwargs, radio_spec, scanner_kwargs

__all__ = ["RadioConfigError", "client_kwargs", "radio_spec", "scanner_kwargs"]
