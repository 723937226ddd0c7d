"""The errors the command line turns into exit code 1 with a one-line reason."""


class Interrupted(BaseException):  # noqa: N818 - a signal, like KeyboardInterrupt
    """Ctrl-C (SIGINT) while a command runs: the message says what was (not) written.
    Not a KeyboardInterrupt, which click turns into "Aborted!" and exit 1."""


class EtlError(Exception):
    """A wrong request or wrong data: the message is shown to the user as is."""


class ConfigError(EtlError):
    """A configuration value is wrong; the message names the variable."""


class DataError(EtlError):
    """Input data is unusable as a whole; the message names the file or line."""


class StorageError(EtlError):
    """The lake could not be read or written after retries."""


class Refusal:
    """A day refused before anything is written: `reason` says why, `way` how to go on
    anyway (the command line's flag; Airflow tasks name their own way)."""

    def __init__(self, reason: str, way: str = "") -> None:
        super().__init__(f"{reason}; {way}" if way else reason)
        self.reason = reason


class NotLandedError(Refusal, StorageError):
    """Day D has no input in the lake yet (or no landing marker): loading it would
    replace the day with nothing. A storage error, so Airflow retries it: the dump
    may still land."""


class ShrinkError(Refusal, EtlError):
    """A re-run of day D would drop more than GROUP_ETL_SHRINK_LIMIT of a kind of
    record the day has loaded: dumps that expired or were half-copied."""


class WarehouseBusyError(StorageError):
    """The warehouse stayed locked by another process past GROUP_ETL_LOCK_TIMEOUT
    (DuckDB admits one writer, and no writer while a reader holds the file). A
    storage error, so Airflow retries it: the other process will finish."""


class WarehouseUnavailableError(StorageError):
    """The warehouse could not be reached, or dropped the connection (a server restart,
    a lost network): transient, so Airflow retries it."""
