"""Images in and out of the store: registry pull and push, save/load archives, export, bootstrap.

Modules are imported by what needs them (``sbx.images.pull``, ``.push``, ``.archive``,
``.export``, ``.bootstrap``) so that the CLI's fast paths do not load ``requests``.
"""
