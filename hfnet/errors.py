"""User-facing errors.

Every error a user can fix (a bad path, an unreachable Hub id, a wrong argument) is raised as :class:`HfnetError`
with a message that names what is wrong and how to fix it. The CLI prints it on one line, without a traceback.
"""


class HfnetError(ValueError):
    """An error caused by the user's input or environment, with a message that says how to fix it."""
