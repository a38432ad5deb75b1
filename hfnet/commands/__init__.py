"""The ``hfnet`` command. The library never imports this package.

Each subcommand is a job of :mod:`hfnet.jobs` (its options declared once as dataclasses, shared with
``recipes/X.py``); ``hfnet --help``, ``hfnet --version`` and ``hfnet X --help`` import neither torch nor
transformers, so they answer at once.
"""

from hfnet.commands.main import main

__all__ = ["main"]
