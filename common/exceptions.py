class ApplicationError(Exception):
    """A domain rule was broken: the message is safe to show to the user as it is."""

    def __init__(self, message: str, *, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
