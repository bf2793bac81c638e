"""AES in ECB mode with the interface of MicroPython's ``cryptolib.aes``, for the host.

firmware/wire.py is shared by the lock and the host; on the lock it takes ``cryptolib.aes``
(C, on mbedTLS on an ESP32), on CPython this. Only what wire.py calls: ``aes(key, 1)`` and
``encrypt(data)`` of whole blocks. Built on `cryptography` (already installed for Bumble).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MODE_ECB = 1


class aes:  # noqa: N801 -- the name cryptolib gives it
    def __init__(self, key: bytes, mode: int, iv: bytes | None = None) -> None:
        if mode != MODE_ECB or iv is not None:
            raise ValueError("mode")  # the host needs ECB only (CTR is built on it in wire.py)
        self._encryptor = Cipher(algorithms.AES(bytes(key)), modes.ECB()).encryptor()

    def encrypt(self, data: bytes | bytearray | memoryview) -> bytes:
        if len(data) % 16:
            raise ValueError("blksize")
        return self._encryptor.update(bytes(data))
