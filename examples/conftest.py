"""The example suite runs on pytest-sandbox's ``container`` marker and ``sandbox`` fixture
(no fixtures of its own are needed).  It needs root and the ``bb`` image that
``scripts/setup.sh`` imports; the service examples also need Debian-based images
(see ``test_services.py``)."""
