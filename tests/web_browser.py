"""The browser tests' tools: Debian's Chromium driven by Playwright (no browser download: the
system binary), `hemlas serve` as a user runs it, axe-core run in each page, screenshots.

Without Chromium the browser tests skip saying why; under CI=true they fail instead (CI must
prove the pages in a real browser: dev.sh installs chromium when it runs as root)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("HEMLAS_CHROMIUM", "/usr/bin/chromium"))
# No GPU, no sandbox (CI runs as root in a container), nothing fetched behind the test's back.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]  # WCAG 2.1 AA, as the law asks
HEMLAS = str(Path(sys.executable).with_name("hemlas"))


def chromium_or_skip() -> Path:
    problem = None
    if not CHROMIUM.exists():
        problem = f"no Chromium at {CHROMIUM} (apt-get install chromium; ./dev.sh does as root)"
    else:
        try:
            import playwright  # noqa: F401
        except ImportError:
            problem = "playwright is not installed (pip install -e '.[test]')"
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{problem} -- CI must run the browser tests")
        pytest.skip(problem)
    return CHROMIUM


def launch(playwright):
    return playwright.chromium.launch(executable_path=str(chromium_or_skip()), args=CHROMIUM_ARGS,
                                      headless=True)


class Served:
    """`hemlas serve --port 0` over a store, until stopped; ``url`` is where it listens."""

    def __init__(self, store_path: Path, home: Path):
        env = {**os.environ, "HEMLAS_STORE": str(store_path), "HOME": str(home)}
        self.proc = subprocess.Popen([HEMLAS, "serve", "--port", "0"], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline, line = time.monotonic() + 30, ""
        while time.monotonic() < deadline and "fleet service on" not in line:
            line = self.proc.stdout.readline()
            assert line or self.proc.poll() is None, "hemlas serve ended before it listened"
        self.url = re.search(r"(http://[^/\s]+)/api/v1/", line).group(1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def axe_violations(page) -> list[dict]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now. Evaluated through the
    DevTools protocol, which the page's CSP does not govern (the page itself stays strict)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text() + "\n;0")
    return page.evaluate("""async tags => {
        const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                             nodes: v.nodes.map(n => n.target.join(' '))}));
    }""", AXE_TAGS)


class Pages:
    """What a browser test keeps per page: axe's counts and a screenshot each."""

    def __init__(self, shots: Path):
        self.shots = shots
        self.counts: dict[str, dict[str, int]] = {}

    def check(self, page, name: str) -> list[dict]:
        """Screenshot the page, run axe; fails on a serious or critical violation."""
        page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)
        violations = axe_violations(page)
        counts = {impact: sum(1 for v in violations if v["impact"] == impact)
                  for impact in ("critical", "serious", "moderate", "minor")}
        self.counts[name] = counts
        bad = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert bad == [], f"{name}: {bad}"
        return violations

    def summary(self) -> str:
        lines = [f"screenshots: {self.shots}"]
        lines += [f"axe {name}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
                  for name, counts in self.counts.items()]
        return "\n".join(lines)
