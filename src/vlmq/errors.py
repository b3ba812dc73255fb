"""One exception type for every user-facing failure: a one-line message that names the fix."""


class VlmqError(Exception):
    """A bad input or an unmet requirement. ``str(err)`` is one line: what is wrong and how to fix it.

    The CLI prints it to stderr without a traceback (``--debug`` shows one).
    """

    def __init__(self, message: str):
        if "\n" in message:
            message = " ".join(part.strip() for part in message.splitlines() if part.strip())
        super().__init__(message)


class UnsupportedOnDevice(VlmqError):
    """A recipe or feature that cannot run on this device (recorded as skipped, never a crash)."""


class RunInputError(VlmqError):
    """A bad input for the whole run, not one recipe's failure: the run stops with this one line."""


class BadModel(RunInputError):
    """The model cannot be loaded at all (missing path or file, unsupported family, offline hub id)."""


class BadData(RunInputError):
    """A task's dataset cannot be loaded (offline hub id, missing folder or column)."""
