"""Open a page in headless Chromium and record what happened: what it requested, what failed, every
console error, a screenshot, and the value of a script run in the loaded page.

Debian's `chromium` is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: the
browser reads NUL-separated JSON commands on fd 3 and answers on fd 4), so no driver and no Python
package are needed beyond the browser itself. Used by tests/test_report.py.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = shutil.which("chromium")
# A fresh profile and nothing in the background: on a machine without internet, Chromium's own
# update, sync and component requests would otherwise log refused connections.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-pipe")


@dataclass
class PageLoad:
    requests: list[str] = field(default_factory=list)  # every URL the page asked for, itself included
    failed: list[str] = field(default_factory=list)    # "URL: net::ERR_..." per failed request
    errors: list[str] = field(default_factory=list)    # console errors, uncaught exceptions, error logs
    screenshot: bytes = b""                            # PNG of the window
    probe: object = None                               # what the probe script returned


class DevTools:
    """Commands out, replies and events in; events are kept until read."""

    def __init__(self, commands: int, replies: int, timeout: float):
        self.commands, self.replies, self.deadline = commands, replies, time.monotonic() + timeout
        self.buffer, self.events, self.next_id = b"", [], 0

    def receive(self) -> dict:
        while b"\0" not in self.buffer:
            ready, _, _ = select.select([self.replies], [], [], max(0.0, self.deadline - time.monotonic()))
            chunk = os.read(self.replies, 1 << 20) if ready else b""
            if not chunk:
                raise TimeoutError("Chromium stopped answering (or took too long)")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, session: str | None = None, **params) -> dict:
        self.next_id += 1
        command = {"id": self.next_id, "method": method, "params": params}
        if session:  # a command to one page (a flat session), not to the browser
            command["sessionId"] = session
        os.write(self.commands, json.dumps(command).encode() + b"\0")
        while True:
            message = self.receive()
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_for(self, method: str) -> None:
        while not any(event.get("method") == method for event in self.events):
            self.events.append(self.receive())


def high_fd(fd: int) -> int:
    """The same pipe end as a descriptor >= 10, so that moving it to 3 or 4 in the child overwrites
    no other pipe end."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


def launch(profile: str) -> tuple[subprocess.Popen, DevTools]:
    to_browser, from_us = (high_fd(fd) for fd in os.pipe())
    to_us, from_browser = (high_fd(fd) for fd in os.pipe())
    # bash puts the pipe ends where --remote-debugging-pipe expects them, then becomes Chromium (dash
    # takes no descriptor above 9)
    process = subprocess.Popen(["bash", "-c", f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser}', CHROMIUM, *FLAGS,
                                f"--user-data-dir={profile}", "about:blank"],
                               pass_fds=(to_browser, from_browser), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(to_browser)
    os.close(from_browser)
    return process, DevTools(from_us, to_us, timeout=60)


def open_page(path: Path, probe: str = "null", width: int = 1280, height: int = 1600) -> PageLoad:
    """Load `path` from file://, wait for its load event, then run `probe` (a JavaScript expression
    whose value is JSON) and take a screenshot."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        process, tools = launch(profile)
        try:
            target = tools.send("Target.createTarget", url="about:blank")["targetId"]
            session = tools.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                tools.send(f"{domain}.enable", session)
            # the viewport itself, not the window around it, is width x height
            tools.send("Emulation.setDeviceMetricsOverride", session, width=width, height=height,
                       deviceScaleFactor=1, mobile=False)
            tools.send("Page.navigate", session, url=path.resolve().as_uri())
            tools.wait_for("Page.loadEventFired")
            value = tools.send("Runtime.evaluate", session, expression=probe, returnByValue=True)["result"]
            shot = tools.send("Page.captureScreenshot", session, format="png")["data"]
            tools.send("Browser.close")
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            os.close(tools.commands)
            os.close(tools.replies)
    load, urls = PageLoad(screenshot=base64.b64decode(shot), probe=value.get("value")), {}
    for event in tools.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            load.requests.append(params["request"]["url"])
            urls[params["requestId"]] = params["request"]["url"]
        elif method == "Network.loadingFailed":
            load.failed.append(f"{urls.get(params['requestId'], params['requestId'])}: {params['errorText']}")
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            load.errors.append(" ".join(str(arg.get("value", arg.get("description"))) for arg in params["args"]))
        elif method == "Runtime.exceptionThrown":
            load.errors.append(params["exceptionDetails"]["text"])
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            load.errors.append(params["entry"]["text"])
    return load
