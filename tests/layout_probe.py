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
  /*CHECKS*/
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
          column: {left: c.left, right: c.right}, bad, tables, tocLinks, plots,
          overlaps: overlaps(), reach: reach(), figures: figures(), annotations: annotations()};
})()
"""

#: Helpers of :data:`PROBE` (defined first in the same expression).
CHECKS = r"""
const visible = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
const label = (el) => (el.id || (el.closest('[id]') || {}).id || el.tagName.toLowerCase());
// the next block after el in the page's flow (its next displayed sibling, or its parent's)
const after = (el) => {
  for (let e = el; e && !e.matches('article, main, body'); e = e.parentElement)
    for (let n = e.nextElementSibling; n; n = n.nextElementSibling)
      if (visible(n) && getComputedStyle(n).position !== 'absolute') return n;
  return null;
};
// A figure (its plot or image, then its caption) must end above what follows it; a plot or
// image must end above its own caption.
function overlaps() {
  const out = [];
  for (const fig of document.querySelectorAll('figure, div.cell_output')) {
    if (fig.matches('div.cell_output') && fig.closest('figure')) continue;
    const drawn = [...fig.querySelectorAll('.js-plotly-plot .main-svg, img')].filter(visible);
    if (!drawn.length) continue;
    const bottom = Math.max(...drawn.map((e) => e.getBoundingClientRect().bottom));
    const cap = fig.querySelector('figcaption');
    if (cap && visible(cap) && bottom > cap.getBoundingClientRect().top + 1)
      out.push(`${label(fig)}: the figure (to ${bottom.toFixed(0)}) covers its caption (from ${cap.getBoundingClientRect().top.toFixed(0)})`);
    const end = Math.max(bottom, cap && visible(cap) ? cap.getBoundingClientRect().bottom : bottom);
    const next = after(fig);
    if (next && end > next.getBoundingClientRect().top + 1)
      out.push(`${label(fig)}: the figure (to ${end.toFixed(0)}) covers the ${next.tagName.toLowerCase()} after it (from ${next.getBoundingClientRect().top.toFixed(0)})`);
  }
  return out;
}
// Every table's last column can be brought into view; a table that scrolls says so (a
// visible cue) and keeps its row labels in view while it scrolls.
function reach() {
  const out = [];
  for (const w of document.querySelectorAll('.nhmg-table-wrap')) {
    const table = w.querySelector('table');
    if (!table || !visible(w)) continue;
    const rows = [...table.querySelectorAll('tr')].filter((tr) => tr.cells.length > 1);
    const scrolls = w.scrollWidth > w.clientWidth + 1;
    const cue = w.querySelector('.nhmg-scroll-cue');
    const box = w.getBoundingClientRect();
    if (scrolls) {
      const r = cue && visible(cue) ? cue.getBoundingClientRect() : null;
      if (!r || r.left < box.left - 1 || r.right > box.left + w.clientWidth + 1)
        out.push(`${label(w)}: scrolls sideways without a visible cue`);
    }
    const em = parseFloat(getComputedStyle(table).fontSize);
    const old = w.scrollLeft;
    w.scrollLeft = w.scrollWidth;
    for (const tr of rows) {
      const last = tr.cells[tr.cells.length - 1].getBoundingClientRect();
      const stub = tr.querySelector('th.nhmg-stub');
      const s = stub ? stub.getBoundingClientRect() : null;
      if (last.right > box.left + w.clientWidth + 1)
        out.push(`${label(w)}: last column out of reach (${last.right.toFixed(0)} > ${(box.left + w.clientWidth).toFixed(0)})`);
      // beside the row labels at least half of it, or 4em, shows at once
      else if (s && last.width > 0 && last.right - Math.max(last.left, s.right) < Math.min(last.width / 2, 64))
        out.push(`${label(w)}: last column under the row labels`);
      if (scrolls && s && (s.left < box.left - 1 || s.left > box.left + 1))
        out.push(`${label(w)}: row labels scroll out of view`);
      // a text cell squeezed to a few letters per line (a word broken letter by letter)
      for (const td of tr.querySelectorAll('td.nhmg-l')) {
        const r = td.getBoundingClientRect();
        if (td.textContent.trim().length > 12 && r.width > 0 && r.width < 5 * em)
          out.push(`${label(w)}: a text column squeezed to ${(r.width / em).toFixed(1)} em`);
      }
      if (out.length > 40) break;
    }
    w.scrollLeft = old;
  }
  return [...new Set(out)];
}
// Static figures: drawn at no less than 3/4 of their own size (their text stays legible); a
// figure that is then wider than its box scrolls with a visible cue.
function figures() {
  const out = [];
  for (const img of document.querySelectorAll('figure img')) {
    if (!visible(img) || !img.naturalWidth) continue;
    const r = img.getBoundingClientRect();
    const scale = r.width / img.naturalWidth;
    if (scale < 0.75) out.push(`${label(img)}: drawn at ${(100 * scale).toFixed(0)}% of its size`);
    const box = img.closest('.nhmg-figure-scroll');
    if (box && box.scrollWidth > box.clientWidth + 1) {
      const cue = box.querySelector('.nhmg-scroll-cue');
      if (!cue || !visible(cue)) out.push(`${label(img)}: scrolls sideways without a visible cue`);
    }
  }
  return out;
}
// Plotly figures: no two annotations (a forest plot's columns) overlap, none sticks out of
// the figure, and the plotting area keeps at least half of the figure's width.
function annotations() {
  const out = [];
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    if (!visible(gd)) continue;
    const g = gd.getBoundingClientRect();
    const fl = gd._fullLayout || {};
    if (fl._size && fl._size.w < 0.5 * fl.width)
      out.push(`${label(gd)}: plotting area ${fl._size.w.toFixed(0)} of ${fl.width} px`);
    const boxes = [...gd.querySelectorAll('.annotation-text')].filter(visible)
      .map((t) => [t.textContent, t.getBoundingClientRect()]);
    for (const [t, r] of boxes)
      if (r.left < g.left - 1 || r.right > g.right + 1)
        out.push(`${label(gd)}: '${t.slice(0, 30)}' sticks out of the figure`);
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++) {
        const [ta, a] = boxes[i], [tb, b] = boxes[j];
        const ox = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const oy = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (ox > 1 && oy > 2) out.push(`${label(gd)}: '${ta.slice(0, 25)}' overlaps '${tb.slice(0, 25)}'`);
      }
  }
  return [...new Set(out)].slice(0, 20);
}
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
                out[(page.name, width)] = browser.evaluate(PROBE.replace("/*CHECKS*/", CHECKS))
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
        for kind in ("overlaps", "reach", "figures", "annotations"):
            for problem in res[kind]:
                print(f"    {kind}: {problem}")
