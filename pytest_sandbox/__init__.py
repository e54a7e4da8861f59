"""pytest-sandbox: isolated service containers for pytest, on the sbx engine."""

__version__ = "0.1.0"
