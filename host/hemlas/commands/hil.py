"""`hemlas hil`: the bench suite (hil_tests/) against a unit, with its JUnit and HTML reports."""

from __future__ import annotations

import os
from pathlib import Path

from ..i18n import _
from .output import CommandError

SUITE = Path(__file__).resolve().parents[3] / "hil_tests"  # beside host/ in the checkout


def add_arguments(cmd) -> None:
    cmd.add_argument("--target", default="sim",
                     help=_("sim (a virtual board) or serial:PORT (a unit on the bench)"))
    cmd.add_argument("--board", help=_("its board file (default: virtual for sim, esp32c3 for a "
                                       "unit)"))
    cmd.add_argument("--report-dir", default=".",
                     help=_("where the JUnit XML and the HTML report go"))


def do_hil(args) -> None:
    import pytest

    if not SUITE.is_dir():
        raise CommandError(_("the bench suite is not here ({path}): run hemlas hil from a hemlås "
                             "checkout").format(path=SUITE))
    out = Path(args.report_dir)
    out.mkdir(parents=True, exist_ok=True)
    # The suite names both reports by the unit and the time once it knows the unit
    # (hil_tests/conftest.py): the XML is written here first.
    argv = [str(SUITE), "-p", "no:cacheprovider", "--rootdir", str(SUITE), "--target", args.target,
            "--junitxml", str(out / f".hil-running-{os.getpid()}.xml"), "--report-dir", str(out),
            "-o", "junit_family=xunit1"]
    if args.board:
        argv += ["--board", args.board]
    if args.target != "sim":
        argv.append("-s")  # the technician answers the suite's questions at the terminal
    code = pytest.main(argv)
    if code != 0:
        raise CommandError(_("the bench suite failed (pytest exit code {code}): see the reports")
                           .format(code=int(code)))
