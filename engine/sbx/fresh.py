"""A fresh interpreter that runs one function of sbx: single-threaded (safe to unshare and
fork in), without site-packages (``-S -E -s``: it starts in a few ms and imports only what
the function needs).  Used for the fork server, the lean detached monitor, the user
namespace's pause process and the storage probe."""

from __future__ import annotations

import os
import sys

_ENGINE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # holds sbx/
_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); import importlib; "
         "m, f = sys.argv[2].split(':'); getattr(importlib.import_module(m), f)(*sys.argv[3:])")


def argv(target: str, *args: str) -> list[str]:
    """The command line that runs ``target`` (``"module:function"``) with ``args``, which
    it receives as strings."""
    return [sys.executable, "-S", "-E", "-s", "-c", _BOOT, _ENGINE_DIR, target, *args]
