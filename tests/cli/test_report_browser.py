"""The HTML report in a real browser: headless Chromium, driven over the DevTools Protocol.

How: Chromium is started with ``--remote-debugging-pipe``, which speaks the Chrome
DevTools Protocol (CDP) as NUL-separated JSON messages over file descriptors 3
(commands in) and 4 (replies and events out): no websocket client and no extra
package. The test opens a tab, enables the ``Network``, ``Runtime``, ``Log`` and
``Page`` domains, navigates to the ``file://`` page and waits for its load event.

What it asserts, from the browser's own events:

* **no network request**: the only ``Network.requestWillBeSent`` events are the
  page itself and ``data:`` URIs (the raster colour bars inside the inline SVGs);
  the page's Content-Security-Policy would block any other fetch, and a blocked
  fetch is a console error too. As a second guard the host
  resolver maps every name to NOTFOUND, so nothing could leave the machine;
* **no console error**: no ``Runtime.exceptionThrown``, no ``console.error``, no
  ``Log.entryAdded`` of level error (CSP violations land there);
* the DOM as rendered: the verdict text, every ``<svg>`` laid out with a non-zero
  size, and a click on a table header sorts its rows (the inline script works).

Debian's ``chromium`` binary is used (``.ci/run`` installs it when missing); the test
skips, saying so, only when no Chromium can be found.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from predaudit.cli import main

ROOT = Path(__file__).resolve().parents[2]
STACKED = ROOT / "sample_data" / "stacked"
TIMEOUT = 90.0

pytestmark = pytest.mark.browser


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(
        "no Chromium found (tried chromium, chromium-browser, google-chrome): install "
        "Debian's chromium (apt-get install -y chromium), as .ci/run does"
    )


class Browser:
    """Headless Chromium and a CDP connection over ``--remote-debugging-pipe``."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # in the child: fd 3 reads our commands, fd 4 writes the replies
        # copies above the fds the child's dup2 onto 3 and 4 could overwrite
        high_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 100)
        high_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 100)

        def fds() -> None:
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.proc = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--host-resolver-rules=MAP * ~NOTFOUND",
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                "--window-size=1280,2000",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=fds,
        )
        for fd in (to_chrome_r, from_chrome_w, high_r, high_w):
            os.close(fd)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise TimeoutError("no answer from Chromium")
            ready, _, _ = select.select([self._from_chrome], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise ConnectionError("Chromium closed the pipe")
                self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        parsed: dict[str, Any] = json.loads(msg)
        return parsed

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send a command and return its result; events that arrive meanwhile are kept."""
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session is not None:
            msg["sessionId"] = session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_for(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (OSError, TimeoutError, ConnectionError, RuntimeError):
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "report.html"
    res = CliRunner().invoke(main, ["report", str(STACKED), "-o", str(out), "-q"])
    assert res.exit_code == 0, res.output
    return out


def test_the_page_loads_in_chromium_without_errors_or_requests(page_file, tmp_path):
    browser = Browser(chromium(), tmp_path / "profile")
    try:
        target = browser.send("Target.createTarget", url="about:blank")["targetId"]
        session = browser.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Network", "Runtime", "Log", "Page"):
            browser.send(f"{domain}.enable", session)
        url = page_file.resolve().as_uri()
        browser.send("Page.navigate", session, url=url)
        browser.wait_for("Page.loadEventFired")

        def js(expression: str) -> Any:
            out = browser.send(
                "Runtime.evaluate", session, expression=expression, returnByValue=True
            )
            assert "exceptionDetails" not in out, out
            return out["result"].get("value")

        n_svg = js("document.querySelectorAll('svg').length")
        drawn = js(
            "Array.from(document.querySelectorAll('svg')).filter(s => {"
            " const r = s.getBoundingClientRect(); return r.width > 100 && r.height > 50;"
            "}).length"
        )
        verdict = js("document.querySelector('.verdict').innerText")
        before = js("Array.from(document.querySelector('table.cells').tBodies[0].rows)"
                    ".map(r => r.cells[1].getAttribute('data-v')).join(',')")  # fmt: skip
        js("document.querySelector('table.cells th:nth-child(2)').click()")
        after = js("Array.from(document.querySelector('table.cells').tBodies[0].rows)"
                   ".map(r => r.cells[1].getAttribute('data-v')).join(',')")  # fmt: skip
        time.sleep(0.5)  # late console messages, if any
        browser.send("Runtime.evaluate", session, expression="1")
    finally:
        browser.close()

    requests = [
        e["params"]["request"]["url"]
        for e in browser.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    # the page itself, and the data: URIs of the raster parts inside SVGs (colour bars)
    outside = [u for u in requests if not u.startswith("data:")]
    assert outside == [url], f"the page made requests: {outside}"
    errors = [
        e["params"]
        for e in browser.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert errors == [], errors
    assert n_svg == 20 and drawn == 20
    assert "SUPPORTED" in verdict.upper() and "Wrong predictions got more wrong" in verdict
    ns = [int(x) for x in after.split(",")]
    assert before != after and ns == sorted(ns)
