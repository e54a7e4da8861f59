"""Layer tars: hostile-input-safe unpacking with digests, whiteouts, and upper dir -> tar.

Names are loaded on first use (PEP 562): ``sbx run`` needs the whiteout helpers and the
store's layer records, not tarfile, hashlib and the unpacker."""

from typing import Any

__all__ = ["Compression", "LayerInfo", "WhiteoutMode", "open_layer_stream"]

# (the functions ``diff`` and ``unpack`` share their modules' names: import them from
# ``sbx.layers.diff`` and ``sbx.layers.unpack``, never from the package)
_WHERE = {"Compression": "streams", "open_layer_stream": "streams", "LayerInfo": "unpack",
          "WhiteoutMode": "whiteouts"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(f"sbx.layers.{_WHERE[name]}"), name)
