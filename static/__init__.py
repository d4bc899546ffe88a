"""The console's static files (installed as the ``toolbox_static`` package)."""
