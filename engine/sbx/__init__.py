"""sbx: a daemonless container engine (namespaces, cgroups, overlayfs, OCI images)."""

__version__ = "0.1.0"
API_VERSION = "1"
