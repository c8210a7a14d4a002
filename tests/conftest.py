"""Test-session set-up.

Zoo models are built into a fresh cache, never the user's. Under CI, hypothesis runs
derandomised: the same examples every time, so a landing never hinges on a lucky draw
(locally it keeps exploring new ones).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from hypothesis import settings

if "EDGESIM_CACHE" not in os.environ:
    os.environ["EDGESIM_CACHE"] = tempfile.mkdtemp(prefix="edgesim-zoo-")
    atexit.register(shutil.rmtree, os.environ["EDGESIM_CACHE"], ignore_errors=True)

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
