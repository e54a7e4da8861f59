"""The only place sbx talks to the kernel directly: syscalls, /proc, mountinfo, capabilities."""
