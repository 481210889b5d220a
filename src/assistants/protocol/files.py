"""Files: the object, the upload's form fields and their checks."""

from __future__ import annotations

from msgspec import Struct

from assistants.errors import InvalidRequest

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
MIN_EXPIRY_SECONDS = 3600
MAX_EXPIRY_SECONDS = 30 * 24 * 3600
"""OpenAI's bounds for `expires_after[seconds]`: one hour to 30 days."""


class FileObject(Struct, kw_only=True):
    id: str
    object: str = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: str
    expires_at: int | None = None
    status_details: str | None = None


class FileDeleted(Struct):
    id: str
    object: str = "file"
    deleted: bool = True


def check_purpose(purpose: str | None) -> str:
    if purpose is None:
        raise InvalidRequest("Missing required parameter: 'purpose'.", param="purpose")
    if purpose not in PURPOSES:
        raise InvalidRequest(f"Invalid 'purpose': expected one of {', '.join(PURPOSES)}, got '{purpose}'.",
                             param="purpose")
    return purpose


def expiry_seconds(anchor: str | None, seconds: str | None) -> int | None:
    """`expires_after[anchor]` / `expires_after[seconds]` form fields -> seconds after creation."""
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise InvalidRequest("Invalid 'expires_after.anchor': expected 'created_at'.",
                             param="expires_after.anchor")
    try:
        value = int(seconds or "")
    except ValueError:
        value = -1
    if not MIN_EXPIRY_SECONDS <= value <= MAX_EXPIRY_SECONDS:
        raise InvalidRequest("Invalid 'expires_after.seconds': expected an integer between "
                             f"{MIN_EXPIRY_SECONDS} "
                             f"and {MAX_EXPIRY_SECONDS}.", param="expires_after.seconds")
    return value


def file_object(row: dict) -> FileObject:  # type: ignore[type-arg]
    return FileObject(id=row["id"], bytes=row["bytes"], created_at=row["created_at"],
                      filename=row["filename"],
                      purpose=row["purpose"], status=row["status"], expires_at=row["expires_at"],
                      status_details=row["status_details"])
