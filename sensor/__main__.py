"""``python -m sensor`` runs the ``hipthrust`` command line."""

from sensor.cli import main

raise SystemExit(main())
