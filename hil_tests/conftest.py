"""The bench suite's options, its one `lock` fixture, and the per-unit report.

    pytest hil_tests                                   # a virtual board (the default)
    pytest hil_tests --target serial:/dev/ttyUSB0 --board esp32c3

or `hemlas hil --target ...`. Each test records its measured figures with `figure(name,
value)`; they go into the JUnit XML (as properties) and the unit's HTML report. With
--report-dir both are named by the unit and the time (hil-HL-1A2B3C-20261201T101500+0100.html),
so the next unit on the same port adds its own.
"""

from __future__ import annotations

import html
import sys
import time
from pathlib import Path

import pytest

from bench import BenchUnit, VirtualUnit
from hemlas.commands.formats import iso

_FIGURES = pytest.StashKey[list]()
_RESULTS: list[dict] = []
_UNIT: dict = {}
_STARTED = time.time()


def pytest_addoption(parser):
    group = parser.getgroup("hemlas bench")
    group.addoption("--target", default="sim", help="sim (a virtual board) or serial:PORT (a unit)")
    group.addoption("--board", default=None, help="board file (default: virtual for sim, esp32c3 for serial)")
    group.addoption("--store", default=None, help="fleet store URL for a serial target (default: $HEMLAS_STORE)")
    group.addoption("--unit-report", default=None, help="write the unit's HTML report here")
    group.addoption("--report-dir", default=None,
                    help="write the HTML report, and move the --junitxml file, here as hil-LOCK-TIME.html/.xml")


def pytest_configure(config):
    config.addinivalue_line("markers", "human: needs the technician (or the simulated hands) at the bench")


@pytest.fixture(scope="session")
def lock(request):
    """The unit under test, flashed and provisioned by `hemlas flash` over its serial port."""
    from hemlas.flashing import flash

    target = request.config.getoption("--target")
    if target == "sim":
        unit = VirtualUnit(request.config.getoption("--board") or "virtual")
    elif target.startswith("serial:"):
        unit = BenchUnit(target[len("serial:"):], request.config.getoption("--board") or "esp32c3",
                         request.config.getoption("--store"))
    else:
        raise pytest.UsageError(f"--target must be sim or serial:PORT, not {target!r}")

    try:
        started = time.monotonic()
        report = flash(unit.port, unit.board, unit.fleet,
                       waiting=lambda message: print(f"\n[bench] {message}", file=sys.stderr))
        unit.flash_report = report
        unit.flash_seconds = time.monotonic() - started
        unit.lock_id, unit.firmware = report.lock_id, report.firmware_version
        unit.open_bench()
        unit.keep_awake()  # the checks talk to it over serial: no sleeping between them
        _UNIT.update(lock_id=unit.lock_id, firmware=unit.firmware, board=unit.board, target=target,
                     micropython=report.micropython)
        yield unit
        unit.release()
    finally:
        unit.close()


@pytest.fixture
def figure(request, record_property):
    """figure(name, value): a measured figure of this check, for the reports."""
    figures = request.node.stash.setdefault(_FIGURES, [])

    def add(name: str, value) -> None:
        figures.append((name, value))
        record_property(name, value)

    return add


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _RESULTS.append({"test": item.name, "doc": (item.function.__doc__ or "").strip().splitlines()[0:1],
                         "outcome": report.outcome, "seconds": report.duration,
                         "figures": list(item.stash.get(_FIGURES, [])),
                         "error": str(report.longrepr.reprcrash.message) if report.failed and
                         hasattr(report.longrepr, "reprcrash") else ""})
    return report


def pytest_sessionfinish(session, exitstatus):
    path = session.config.getoption("--unit-report", None)
    if not path or not _RESULTS:
        return
    Path(path).write_text(_html_report(), encoding="utf-8")


def report_stem(lock_id: str, started: float) -> str:
    """hil-LOCK-TIME: the unit and the local time of the run, with its offset (no ':', which
    some file systems refuse)."""
    stamp = time.strftime("%Y%m%dT%H%M%S%z", time.localtime(started))
    return f"hil-{lock_id or 'not-flashed'}-{stamp}"


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """After the JUnit XML is written (in its sessionfinish): both reports under the unit's name."""
    out = config.getoption("--report-dir", None)
    if not out or not _RESULTS:
        return
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / report_stem(_UNIT.get("lock_id", ""), _STARTED)
    written = [stem.with_suffix(".html")]
    written[0].write_text(_html_report(), encoding="utf-8")
    xml = getattr(config.option, "xmlpath", None)
    if xml and Path(xml).is_file():
        written.append(Path(xml).replace(stem.with_suffix(".xml")))
    print(f"reports: {', '.join(map(str, written))}", file=sys.stderr)


def _html_report() -> str:
    esc = html.escape
    rows = []
    for r in _RESULTS:
        figures = "<br>".join(f"{esc(str(name))}: <b>{esc(str(value))}</b>" for name, value in r["figures"])
        colour = {"passed": "#2a7", "failed": "#c33", "skipped": "#999"}.get(r["outcome"], "#999")
        title = esc(r["doc"][0]) if r["doc"] else esc(r["test"])
        rows.append(f"<tr><td>{title}<br><small>{esc(r['test'])}</small></td>"
                    f"<td style='color:{colour}'><b>{esc(r['outcome'].upper())}</b>"
                    f"{'<br><small>' + esc(r['error']) + '</small>' if r['error'] else ''}</td>"
                    f"<td>{figures}</td><td>{r['seconds']:.1f} s</td></tr>")
    passed = all(r["outcome"] != "failed" for r in _RESULTS)
    unit = _UNIT or {"lock_id": "(not flashed)"}
    head = " &middot; ".join(f"{esc(k)}: <b>{esc(str(v))}</b>" for k, v in unit.items())
    verdict = "READY FOR A CUSTOMER'S DOOR" if passed else "NOT READY: see the failed checks"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>hemlås bench report {esc(unit.get('lock_id', ''))}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border-bottom:1px solid #ddd;padding:.4em;vertical-align:top;text-align:left}}</style>
</head><body><h1>hemlås bench report</h1><p>{head}<br>{esc(iso(_STARTED) or '')}</p>
<h2 style="color:{'#2a7' if passed else '#c33'}">{verdict}</h2>
<table><tr><th>check</th><th>result</th><th>measured</th><th>time</th></tr>{''.join(rows)}</table></body></html>
"""
