"""The one error a test service raises when it cannot be provided."""


class ServiceError(RuntimeError):
    """A test service could not be provided; the message says what to do."""
