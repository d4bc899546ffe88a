"""``tbx``: toolBox's command line, a client of the public HTTP API only.

The modules: ``config`` (the per-user config file and the environment), ``client`` (HTTP
calls and their one-line errors), ``tools`` (a command per tool, built from
``GET /api/tools``), ``run`` (starting a job, following it until it ends, the displays),
``views`` (the live table, CI lines, summaries, exit codes), ``paths`` (traceroute/mtr
routes as text), ``stats`` (``--watch``/``--repeat`` running statistics), ``admin`` (jobs
and agents commands) and ``main`` (the ``tbx`` group, login, whoami, completion).  The server never imports this package:
``click`` and ``rich`` are the command line's libraries alone.

Exit codes: 0 every task ok, 1 any task not ok (failed, partial, lost, timed out,
canceled), 2 a usage error, a server error or no server, 130 interrupted (Ctrl-C).
"""
