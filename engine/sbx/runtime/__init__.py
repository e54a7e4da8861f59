"""The container runtime: specs, state, the launch ladder, the monitor, exec."""
