"""No lock secret or key material in any output: logs, CLI output, the lock's flash, answers.

A whole provisioning-to-unlock run with every logger at DEBUG, then a grep of everything it
produced for the secret and the keys, in hex (both cases), base64 and raw bytes.
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys

import pytest

from fleet_helpers import issue
from hemlas.firmware import wire
from hemlas.radio.config import ENV_VAR
from hemlas.sim import VirtualRadio

pytestmark = pytest.mark.virtual_board


def _forms(secret: bytes) -> list[bytes]:
    return [secret, secret.hex().encode(), secret.hex().upper().encode(), base64.b64encode(secret),
            secret[:12].hex().encode()]  # a long-enough fragment counts too


def test_no_secret_in_any_output(boot_board, fleet, monkeypatch, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    with VirtualRadio() as radio:
        monkeypatch.setenv(ENV_VAR, radio.spec)
        vb = boot_board(radio=radio, bolt=1.0)
        vb.provision(fleet)
        technician = issue(fleet, vb.lock_id, wire.ROLE_TECHNICIAN)
        env = dict(os.environ, HEMLAS_LOG_LEVEL="DEBUG")
        outputs = []

        def hemlas(*args):
            result = subprocess.run([sys.executable, "-m", "hemlas.cli", *args], capture_output=True,
                                    timeout=120, env=env)
            outputs.extend([result.stdout, result.stderr])
            assert result.returncode == 0, result.stderr

        hemlas("keys", "issue", vb.lock_id, "--person", "Anna Andersson", "--role", "staff")
        hemlas("keys", "issue", vb.lock_id, "--person", "Bo Berg", "--role", "staff", "--json")
        hemlas("keys", "list")
        hemlas("keys", "list", "--json")
        hemlas("unlock", vb.lock_id)
        hemlas("lock", vb.lock_id, "--json")
        hemlas("battery", vb.lock_id)
        hemlas("log", vb.lock_id, "--json")
        victim = fleet.keys(vb.lock_id)[-1].key_id
        hemlas("keys", "revoke", str(victim), "--now")
        outputs.append("\n".join(vb.output).encode())
        outputs.append(str(vb.command("status")).encode())
        outputs.append(str(vb.command("log 0")).encode())
        flash = [p for p in vb.flash_dir.rglob("*") if p.is_file() and p.name != "secret.bin"]
        outputs.extend(p.read_bytes() for p in flash)
        outputs.append("\n".join(r.getMessage() for r in caplog.records).encode())
        vb.close()
    secrets = [fleet.lock_secret(vb.lock_id), technician.key]
    secrets += [k.key for k in fleet.keyfile.keys(vb.lock_id)]
    assert len(secrets) >= 3
    everything = b"\n".join(outputs)
    assert b"Anna Andersson" in everything  # the grep does see the outputs
    for secret in secrets:
        for form in _forms(secret):
            assert form not in everything
    assert (vb.flash_dir / "secret.bin").read_bytes() == secrets[0]  # where it belongs, only
