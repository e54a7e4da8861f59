"""Rootless mode: sbx for an ordinary user, without sudo.

Every sbx process of a user that needs root powers (mounting, unpacking layers with their
owners, starting containers) joins one user namespace per user, ``U``, in which the user
is root and the user's subordinate ids (``/etc/subuid``) are ids 1..65536.  ``U`` is held
open by a tiny pause process (as podman does); the first sbx process that finds no pause
process creates it.  Inside ``U`` the engine runs the same code as for real root; the
differences are modes chosen from :func:`sbx.rootless.idmap.current` (overlay with
``userxattr``, /dev nodes bound instead of created, no cgroups unless delegated).

- :mod:`sbx.rootless.idmap`: the id map (full with subordinate ids, or single), and which
  host user a process acts for.
- :mod:`sbx.rootless.userns`: creating, finding and joining ``U``.
"""
