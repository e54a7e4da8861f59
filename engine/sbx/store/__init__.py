"""The machine-wide image store: verified blobs, layers unpacked once, image records, tags."""

from sbx.store.blobs import BlobWriter
from sbx.store.gc import DiskUsage, PruneReport
from sbx.store.images import ImageRecord
from sbx.store.layers import LayerRecord
from sbx.store.store import DeleteEvent, Store

__all__ = ["BlobWriter", "DeleteEvent", "DiskUsage", "ImageRecord", "LayerRecord",
           "PruneReport", "Store"]
