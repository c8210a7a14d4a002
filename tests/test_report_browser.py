"""The quickstart's report as a person sees it: opened in headless Chromium.

The browser is driven over the DevTools protocol (a websocket, tornado's client): the
page is loaded from its file, a full-page screenshot taken, and what is on it checked:
no console message or uncaught error, every figure the page lists present with a
screenshot region that is not blank (pixel variance), and every number of the summary
tables equal to the value at its path in ``summary.json``, to the four significant
figures shown. Chromium is Debian's package: where it is missing, the set-up installs
it when it can (root and apt-get), and the test is skipped when it cannot.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim.cli import main
from tests.helpers import ROOT

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
WIDTH = 1000
PAGE_FACTS = """JSON.stringify({
  title: document.querySelector("#title").textContent,
  figures: [...document.querySelectorAll("figure.figure")].map(f => {
    const svg = f.querySelector("svg"), r = svg ? svg.getBoundingClientRect() : null;
    return {name: f.dataset.name, box: r && [r.x + scrollX, r.y + scrollY, r.width, r.height]};
  }),
  numbers: [...document.querySelectorAll("span.num")].map(n =>
    ({key: n.dataset.key, scale: +n.dataset.scale, text: n.textContent})),
})"""


def browser() -> str | None:
    """A Chromium on the path, installed from Debian's package where root may."""
    found = next((b for b in BROWSERS if shutil.which(b)), None)
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True,
                       timeout=900, check=False, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})  # fmt: skip
        found = next((b for b in BROWSERS if shutil.which(b)), None)
    return found


class DevTools:
    """A headless Chromium and one page of it, driven over the DevTools protocol."""

    def __init__(self, exe: str, profile: Path) -> None:
        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.events: list[dict[str, Any]] = []
        self.ids = iter(range(1, 1 << 30))
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.session: str | None = None

    def url(self) -> str:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            if found:
                return found.group(1)
        raise RuntimeError("chromium exited before opening its DevTools port")

    async def open(self) -> None:
        from tornado.websocket import websocket_connect

        self.ws = await websocket_connect(self.url(), max_message_size=1 << 30)
        self.reader = asyncio.ensure_future(self._read())
        target = await self.call("Target.createTarget", url="about:blank")
        attached = await self.call("Target.attachToTarget", targetId=target["targetId"],
                                   flatten=True)  # fmt: skip
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            await self.call(f"{domain}.enable")

    async def _read(self) -> None:
        while (text := await self.ws.read_message()) is not None:
            message = json.loads(text)
            if "id" in message and message["id"] in self.pending:
                self.pending.pop(message["id"]).set_result(message)
            else:
                self.events.append(message)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        n = next(self.ids)
        message: dict[str, Any] = {"id": n, "method": method, "params": params}
        if self.session is not None:
            message["sessionId"] = self.session
        self.pending[n] = asyncio.get_running_loop().create_future()
        await self.ws.write_message(json.dumps(message))
        reply = await asyncio.wait_for(self.pending[n], 60)
        assert "error" not in reply, (method, reply["error"])
        result: dict[str, Any] = reply["result"]
        return result

    async def load(self, page: Path) -> None:
        """Navigate to ``page`` and wait for it to load; the events are its own."""
        self.events.clear()
        await self.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=900,
                        deviceScaleFactor=1, mobile=False)  # fmt: skip
        await self.call("Page.navigate", url=page.resolve().as_uri())
        for _ in range(600):
            if any(e.get("method") == "Page.loadEventFired" for e in self.events):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{page} did not finish loading")

    async def evaluate(self, expression: str) -> Any:
        done = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return done["result"]["value"]

    async def screenshot(self) -> np.ndarray:
        """The whole page as a grey-level array, one value per CSS pixel."""
        from PIL import Image

        size = (await self.call("Page.getLayoutMetrics"))["cssContentSize"]
        shot = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                               clip={"x": 0, "y": 0, "width": size["width"],
                                     "height": size["height"], "scale": 1})  # fmt: skip
        self.png = base64.b64decode(shot["data"])
        return np.asarray(Image.open(io.BytesIO(self.png)).convert("L"), dtype=float)

    def problems(self) -> list[str]:
        """Console messages of level error or warning, and uncaught exceptions."""
        out = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(str(params["exceptionDetails"]))
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "warning"):
                out.append(str(params["args"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
                out.append(params["entry"]["text"])
        return out

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@dataclass
class Seen:
    """One page as Chromium showed it."""

    facts: dict[str, Any]
    pixels: np.ndarray
    problems: list[str]
    png: bytes


def look(pages: list[Path], profile: Path) -> list[Seen]:
    """Open each page in turn in one Chromium: its facts, screenshot, console problems."""
    exe = browser()
    if exe is None:
        pytest.skip("no Chromium, and it cannot be installed here (needs root and apt-get)")
    tools = DevTools(exe, profile)

    async def visit() -> list[Seen]:
        await tools.open()
        out = []
        for page in pages:
            await tools.load(page)
            facts = json.loads(await tools.evaluate(PAGE_FACTS))
            pixels = await tools.screenshot()
            out.append(Seen(facts, pixels, tools.problems(), tools.png))
        return out

    try:
        return asyncio.run(visit())
    finally:
        tools.close()


def at(tree: Any, key: str) -> Any:
    """The value at a dotted path (list items by index)."""
    for part in key.split("."):
        tree = tree[int(part)] if isinstance(tree, list) else tree[part]
    return tree


def drawn(facts: dict[str, Any], pixels: np.ndarray) -> None:
    """Every figure on the page has an svg whose screenshot region is not blank."""
    for figure in facts["figures"]:
        assert figure["box"] is not None, figure["name"]
        x, y, w, h = (round(v) for v in figure["box"])
        assert w > 300 and h > 100, figure
        region = pixels[y : y + h, x : x + w]
        assert region.shape[0] >= h - 1, (figure["name"], "beyond the screenshot")
        assert region.std() > 10, (figure["name"], region.std())


@pytest.fixture(scope="module")
def pages() -> Iterator[dict[str, tuple[Seen, dict[str, Any]]]]:
    """The quickstart's report and a failure run's (``run --report``), as Chromium
    showed them, with their summaries."""
    runs = {
        "quickstart": ["scenarios/quickstart.yaml"],
        "primary_backup": ["scenarios/edge_prune/primary_backup.yaml", "--horizon", "75s",
                           "--replications", "2"],
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for name, argv in runs.items():
            argv = [str(ROOT / argv[0]), *argv[1:], "--out", f"{tmp}/{name}", "--report"]
            assert main(["run", *argv, "--quiet"]) == 0
        seen = look([Path(tmp) / name / "report.html" for name in runs], Path(tmp) / "profile")
        summaries = [json.loads((Path(tmp) / n / "summary.json").read_text()) for n in runs]
        yield dict(zip(runs, zip(seen, summaries, strict=True), strict=True))


def test_the_quickstart_report_renders_in_chromium(
    pages: dict[str, tuple[Seen, dict[str, Any]]], tmp_path: Path
) -> None:
    """No console errors; every figure present and not blank; the summary's numbers are
    those of summary.json; the screenshot is kept for a person to look at."""
    seen, summary = pages["quickstart"]
    (tmp_path / "report.png").write_bytes(seen.png)
    assert seen.problems == []
    assert seen.facts["title"] == summary["scenario"]
    names = [f["name"] for f in seen.facts["figures"]]
    assert {"latency_distribution", "latency_over_time", "utilisation", "energy",
            "throughput"} <= set(names)  # fmt: skip
    drawn(seen.facts, seen.pixels)
    assert len(seen.facts["numbers"]) > 40
    for n in seen.facts["numbers"]:
        expected = at(summary, n["key"]) * n["scale"]
        assert float(n["text"]) == pytest.approx(expected, rel=5e-4, abs=1e-12), n


def test_a_failure_scenario_report_shows_its_failures(
    pages: dict[str, tuple[Seen, dict[str, Any]]],
) -> None:
    """primary_backup: the failure figures are drawn and the failures table matches."""
    seen, summary = pages["primary_backup"]
    assert seen.problems == []
    drawn(seen.facts, seen.pixels)
    assert {"latency_over_time", "component_states"} <= {f["name"] for f in seen.facts["figures"]}
    faults = [n for n in seen.facts["numbers"] if n["key"].startswith("faults.")]
    assert faults
    for n in faults:
        assert float(n["text"]) == pytest.approx(at(summary, n["key"]) * n["scale"], rel=5e-4)
