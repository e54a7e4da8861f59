"""sbx: a daemonless container engine (namespaces, cgroups, overlayfs, OCI images)."""

__version__ = "0.1.0"
API_VERSION = "1"


def process_start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, from /proc), or None when it
    is gone or a zombie: with the pid it names one process for good, since pids are
    reused.  Public for the plugin (containers' owners), so that one reader serves both."""
    from sbx.linux.proc import start_time

    return start_time(pid)
