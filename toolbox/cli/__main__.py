"""``python -m toolbox.cli``: the same as the ``tbx`` command."""

from toolbox.cli.main import main

main()
