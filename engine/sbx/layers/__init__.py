"""Layer tars: hostile-input-safe unpacking with digests, whiteouts, and upper dir -> tar."""

from sbx.layers.diff import diff
from sbx.layers.streams import Compression, open_layer_stream
from sbx.layers.unpack import LayerInfo, unpack
from sbx.layers.whiteouts import WhiteoutMode

__all__ = ["Compression", "LayerInfo", "WhiteoutMode", "diff", "open_layer_stream", "unpack"]
