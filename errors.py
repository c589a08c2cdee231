"""parkgate's own exception tree.

Library errors (OpenCV, SQLAlchemy, paho, pymodbus…) are translated into these at the
boundary with ``raise … from err`` so callers handle one documented family, and the API maps
each class to one HTTP status in one place (``api/errors.py``).
"""

from __future__ import annotations


class ParkgateError(Exception):
    """Base of every error parkgate raises on purpose."""


class ConfigError(ParkgateError):
    """The configuration file or environment is invalid."""


class InvalidInputError(ParkgateError):
    """Input from a caller is malformed (maps to HTTP 422)."""


class PlateFilterError(InvalidInputError):
    """A plate search given text that folds to nothing a plate holds (maps to HTTP 422)."""


class MalformedBodyError(InvalidInputError):
    """A body that cannot be parsed or was cut off before its end (maps to HTTP 400)."""


class UnsupportedMediaError(InvalidInputError):
    """A body is not an image parkgate can decode (maps to HTTP 415)."""


class PayloadTooLargeError(InvalidInputError):
    """A body or image exceeds a configured limit (maps to HTTP 413)."""


class NotFoundError(ParkgateError):
    """A referenced entity does not exist (maps to HTTP 404)."""


class ConflictError(ParkgateError):
    """The request collides with existing data, e.g. a duplicate plate (HTTP 409)."""


class PermissionDeniedError(ParkgateError):
    """The caller is authenticated but lacks the role (HTTP 403)."""


class AuthenticationError(ParkgateError):
    """Missing or invalid credentials (HTTP 401)."""


class RecognitionError(ParkgateError):
    """A recogniser could not run (model missing, engine failure)."""


class HardwareError(ParkgateError):
    """A barrier, gate, sensor or display did not do what it was told."""


class HardwareTimeoutError(HardwareError):
    """A device did not confirm a command within its time-out."""


class HardwareUnavailableError(HardwareError):
    """The device or its broker/server cannot be reached."""


class StoreUnavailableError(ParkgateError):
    """The database cannot be reached (HTTP 503); gates fall back to their local journal."""


class BusyError(ParkgateError):
    """Every slot for this kind of work stayed taken for as long as a caller may wait (HTTP 503
    with ``Retry-After``): the controller is at a configured bound, not broken."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class DatabaseStartError(ParkgateError):
    """The database answers but cannot be used as it is (a migration failed, it is empty or
    replaced while this controller has history); a restart or an operator must act."""
