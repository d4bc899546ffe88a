"""Watching over time: schedules (``schedules.py``), their rounds (``rounds.py``), and the
series of points and rollups their finished tasks leave (``points.py``, ``series.py``,
``series_read.py``).  Storage is in ``toolbox/store/repos/``."""
