"""Test-session set-up: zoo models are built into a fresh cache, never the user's."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("EDGESIM_CACHE", tempfile.mkdtemp(prefix="edgesim-zoo-"))
