"""The example suite runs on pytest-sandbox's ``container`` marker and ``sandbox`` fixture
(no fixtures of its own are needed).  It runs as root or as an ordinary user (rootless)
and needs the ``bb`` image that ``scripts/setup.sh`` imports; the service examples also
need Debian-based images (see ``test_services.py``)."""
