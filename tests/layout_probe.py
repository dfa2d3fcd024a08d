"""Measure the layout of built pages in headless Chromium (for tests/test_book.py).

Chromium is driven over its DevTools protocol on a pipe (``--remote-debugging-pipe``: commands
on file descriptor 3, replies on 4, each a JSON message ended by a NUL byte), so no driver
library is needed. :func:`measure` loads each page at one viewport width and returns what
:data:`PROBE` finds: the page's own horizontal overflow and every caption, table note or
figure caption that is wider than the viewport or cut off by a scrolling box.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

#: Runs in the page. ``bad``: captions / notes that stick out of the viewport or out of the
#: visible part of a scrolling ancestor; ``tables``: each table box's left and right edge and
#: the text column's, to hold tables inside the column on a wide screen.
PROBE = r"""
(() => {
  const vw = document.documentElement.clientWidth;
  const sel = ['table.nhmg-table caption', 'table.nhmg-table .nhmg-footnote',
               '.nhmg-table-download', 'figcaption', '.nhmg-banner', '.nhmg-figure-note',
               '.js-plotly-plot .main-svg'];
  const bad = [];
  const describe = (el) => (el.innerText || el.textContent || el.tagName).trim().slice(0, 60);
  for (const el of document.querySelectorAll(sel.join(','))) {
    if (el.matches('.main-svg') && el.closest('.nhmg-plotly-scroll')) continue;  // scrolls by design
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;           // not displayed
    const problems = [];
    if (r.left < -1 || r.right > vw + 1) problems.push(`outside the viewport (${r.left.toFixed(0)}-${r.right.toFixed(0)} of ${vw})`);
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.overflowX === 'visible') continue;
      const b = a.getBoundingClientRect();
      if (r.left < b.left - 1 || r.right > b.left + a.clientWidth + 1)
        problems.push(`clipped by ${a.tagName.toLowerCase()}.${[...a.classList].join('.')} (${r.left.toFixed(0)}-${r.right.toFixed(0)} in ${b.left.toFixed(0)}-${(b.left + a.clientWidth).toFixed(0)})`);
      break;
    }
    if (problems.length) bad.push({element: el.tagName.toLowerCase() + '.' + [...el.classList].join('.'),
                                   text: describe(el), problems});
  }
  const col = document.querySelector('.bd-article') || document.querySelector('main');
  const c = col ? col.getBoundingClientRect() : {left: 0, right: vw};
  const tables = [...document.querySelectorAll('.nhmg-table-wrap')].map((w) => {
    const r = w.getBoundingClientRect();
    return {id: w.id, left: r.left, right: r.right, scrolls: w.scrollWidth > w.clientWidth + 1};
  });
  const toc = document.querySelector('.bd-sidebar-secondary');
  const tocLinks = toc ? [...toc.querySelectorAll('a')].filter((a) => a.getBoundingClientRect().width > 0).length : null;
  const plots = [...document.querySelectorAll('.js-plotly-plot')].map((gd) => {
    const fl = gd._fullLayout || {};
    const domains = Object.keys(fl).filter((k) => /^xaxis\d*$/.test(k)).map((k) => fl[k].domain);
    return {id: gd.closest('figure') ? gd.closest('figure').id : '', width: fl.width, domains};
  });
  return {width: vw, scrollWidth: document.documentElement.scrollWidth,
          column: {left: c.left, right: c.right}, bad, tables, tocLinks, plots};
})()
"""


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One headless Chromium, one tab, driven over the DevTools pipe."""

    def __init__(self, binary: str, timeout: float = 60.0):
        self.timeout = timeout
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()

        def fds() -> None:  # the child reads commands on 3 and writes replies on 4
            a, b = os.dup(to_child_r), os.dup(from_child_w)   # free of 3 and 4 first
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-extensions", "--no-first-run", "--hide-scrollbars", "--mute-audio",
             "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=fds, pass_fds=(3, 4, to_child_r, from_child_w))
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        self._events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable", session=True)

    def _read(self) -> dict:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise TimeoutError("no reply from chromium")
            chunk = os.read(self._r, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, session: bool = False, **params: Any) -> dict:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)

    def wait_event(self, method: str) -> dict:
        while True:
            for i, ev in enumerate(self._events):
                if ev.get("method") == method:
                    return self._events.pop(i)
            self._events.append(self._read())

    def load(self, url: str, width: int, height: int = 900) -> None:
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=width < 600)
        self._events.clear()
        self.call("Page.navigate", session=True, url=url)
        self.wait_event("Page.loadEventFired")
        # a late load event of the previous page (about:blank) must not count as this one
        deadline = time.monotonic() + self.timeout
        check = f"document.readyState === 'complete' && location.href === {json.dumps(url)}"
        while not self.evaluate(check):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load")
            time.sleep(0.1)

    def evaluate(self, expression: str) -> Any:
        out = self.call("Runtime.evaluate", session=True, expression=expression,
                        returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in out:
            raise RuntimeError(out["exceptionDetails"])
        return out["result"].get("value")

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._w)
        os.close(self._r)


def measure(pages: list[Path], widths: tuple[int, ...] = (420, 1400), settle_ms: int = 400) -> dict:
    """``{(page name, width): PROBE result}`` for every page at every width."""
    binary = chromium()
    if binary is None:
        raise FileNotFoundError("chromium is not installed")
    browser = Browser(binary)
    out: dict[tuple[str, int], dict] = {}
    try:
        for width in widths:
            for page in pages:
                browser.load(page.resolve().as_uri(), width)
                # plotly and the theme lay out after load; the probe reads the settled page
                browser.evaluate(f"new Promise(r => setTimeout(r, {settle_ms}))")
                out[(page.name, width)] = browser.evaluate(PROBE)
    finally:
        browser.close()
    return out


if __name__ == "__main__":  # python tests/layout_probe.py _build/html/book/*.html
    import sys

    for (name, width), res in measure([Path(p) for p in sys.argv[1:]]).items():
        wide = [t for t in res["tables"] if t["right"] > res["column"]["right"] + 1]
        print(f"{name} @{width}: scrollWidth {res['scrollWidth']}/{res['width']}, column "
              f"{res['column']['left']:.0f}-{res['column']['right']:.0f}, toc links {res['tocLinks']}, "
              f"tables past column {[(t['id'], round(t['right'])) for t in wide]}")
        for b in res["bad"]:
            print("   ", b)
