"""The machine-wide image store: verified blobs, layers unpacked once, image records, tags.

Names are loaded on first use (PEP 562) so that ``import sbx.store`` stays cheap on the
CLI's hot path."""

from typing import Any

__all__ = ["BlobWriter", "DeleteEvent", "DiskUsage", "ImageRecord", "LayerRecord",
           "PruneReport", "Store"]

_WHERE = {"BlobWriter": "blobs", "DiskUsage": "gc", "PruneReport": "gc", "ImageRecord": "images",
          "LayerRecord": "layers", "DeleteEvent": "store", "Store": "store"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(f"sbx.store.{_WHERE[name]}"), name)
