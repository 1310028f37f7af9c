"""hipthrust: a wearable rep counter for the barbell single-leg hip thrust.

Data flows one way: source (BLE, virtual sensor, file) -> decode -> samples -> engine ->
events and summary -> sinks (terminal, file, MQTT).
"""

__version__ = "0.1.0"
