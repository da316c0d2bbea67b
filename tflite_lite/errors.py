"""Errors that describe bad user input.

Scripts print a `UserError` as one line and exit non-zero instead of showing a traceback.
It subclasses `ValueError` so library callers can catch it the usual way.
"""


class UserError(ValueError):
    """Bad input from the user: an unknown name, a missing file, an impossible value."""
