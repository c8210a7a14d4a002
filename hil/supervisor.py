"""``--respawn``: the agent as a child process, started again whenever it exits abnormally.

A crash fault (or a real crash) then costs the host one reconnection: it finds a new
nonce and loads its partitions again. Under systemd, ``Restart=on-failure`` does the
same without this (see docs/hil.md). Agent side: standard library only, Python 3.8+.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("edgesim.agent")
LISTENING = "listening on "


def agent_command() -> list[str]:
    """How to start this agent again: its bundle when it runs from one, else the module."""
    package = Path(__file__).parent
    if not package.is_dir():  # inside a zip archive: .../edgesim-agent.pyz/hil
        return [sys.executable, str(package.parent)]
    return [sys.executable, "-m", "hil.agent"]


def supervise(argv: list[str], delay: float, pin_port: bool) -> int:
    """Run the agent with ``argv`` as a child process and start it again ``delay`` seconds
    after it exits abnormally; 0 when it exits cleanly (``--once``), its status when the
    first start fails before serving. The first start's ``listening on HOST:PORT`` line is
    passed on, and later starts reuse that port (so ``--listen 127.0.0.1:0`` keeps the port
    it got). SIGTERM and SIGINT stop the child too (it ends cleanly); on Linux the child
    also dies with the supervisor."""
    signal.signal(signal.SIGTERM, _stop)
    pinned: list[str] = []
    starts = 0
    while True:
        child = subprocess.Popen(
            [*agent_command(), *argv, *pinned],
            stdout=subprocess.PIPE,
            universal_newlines=True,
            preexec_fn=_die_with_parent,
        )
        assert child.stdout is not None
        line = child.stdout.readline()
        if starts == 0:
            if not line:  # it never started (bad arguments, port taken): say so once
                return child.wait() or 1
            print(line, end="", flush=True)
            if pin_port and line.startswith(LISTENING):
                pinned = ["--listen", line[len(LISTENING) :].strip()]
        starts += 1
        try:
            code = child.wait()
        except (KeyboardInterrupt, SystemExit):
            child.terminate()
            child.wait()
            return 0
        if code == 0:
            return 0
        log.warning("agent exited with status %s; starting it again (%d)", code, starts)
        time.sleep(delay)


def _stop(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def _die_with_parent() -> None:
    """In the child: receive SIGTERM when the supervisor dies (Linux; elsewhere nothing)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
