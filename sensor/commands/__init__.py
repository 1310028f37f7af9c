"""One module per ``hipthrust`` command; see ``sensor.cli``."""
