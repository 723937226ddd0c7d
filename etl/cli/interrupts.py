"""Ctrl-C as one line and exit 130, wherever it lands.

The handler raises `Interrupted` (not KeyboardInterrupt, which click turns into
"Aborted!" and exit 1). When the signal arrives inside a DuckDB query, DuckDB
stops the query and raises its own RuntimeError("Query interrupted") instead, so
the handler also records that Ctrl-C was pressed: `stopped_by_ctrl_c` tells any
error raised after it for what it is.
"""

from __future__ import annotations

from etl.errors import Interrupted

_pressed = False


def on_sigint(_signum: int, _frame: object) -> None:
    global _pressed
    _pressed = True
    raise Interrupted("interrupted")


def stopped_by_ctrl_c(error: BaseException) -> bool:
    """True for our Interrupted, and for whatever error a Ctrl-C caused inside a driver."""
    return isinstance(error, Interrupted) or (_pressed and not isinstance(error, SystemExit))
