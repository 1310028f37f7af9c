"""Shared fixtures: only the real-mosquitto fixtures (see ``tests/mosquitto_broker.py``)."""

pytest_plugins = ("mosquitto_broker",)
