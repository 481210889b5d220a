"""A multipart/form-data upload streamed to disk: the file part never sits whole in memory.

litestar's own form parsing reads the entire body first, so the upload route reads `request.stream()`
through multipart's push parser instead, writing the file part to a staging file in 1 MiB writes off
the event loop. Text fields are small and bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import multipart
from litestar import Request

from assistants.errors import InvalidRequest, PayloadTooLarge

FIELD_LIMIT = 4096
"""Bytes of one text field (purpose, expires_after[...])."""
_WRITE_CHUNK = 1 << 20


@dataclass
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    size: int = 0
    staged: Path | None = None


async def receive_upload(request: Request[Any, Any, Any], staged: Path, file_field: str,
                         max_bytes: int) -> Upload:
    """Parse the body; the part named `file_field` goes to `staged`. On any error `staged` is removed."""
    content_type, options = multipart.parse_options_header(request.headers.get("content-type", ""))
    if content_type != "multipart/form-data" or not options.get("boundary"):
        raise InvalidRequest("The request must be multipart/form-data with a 'file' part.")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes + 64 * 1024:
        raise _too_large(max_bytes)
    upload = Upload()
    handle: BinaryIO | None = None
    try:
        handle, buffer = await _receive(request, options["boundary"], staged, file_field, max_bytes, upload)
        if handle is not None:
            await asyncio.to_thread(_finish, handle, buffer)
            handle = None
    except BaseException:
        if handle is not None:
            handle.close()
        # One syscall on the error path, which may be a cancellation: no thread hop that could not finish.
        staged.unlink(missing_ok=True)  # noqa: ASYNC240
        upload.staged = None
        raise
    return upload


async def _receive(request: Request[Any, Any, Any], boundary: str, staged: Path, file_field: str,
                   max_bytes: int,
                   upload: Upload) -> tuple[BinaryIO | None, bytearray]:
    parser = multipart.PushMultipartParser(boundary, max_segment_count=16)
    handle: BinaryIO | None = None
    buffer = bytearray()
    part: multipart.MultipartSegment | None = None
    text = bytearray()
    try:
        async for chunk in request.stream():
            for event in parser.parse(chunk):
                if isinstance(event, multipart.MultipartSegment):
                    part, text = event, bytearray()
                    if part.name == file_field and part.filename is not None:
                        if handle is not None:
                            raise InvalidRequest(f"Only one '{file_field}' part is allowed.",
                                                 param=file_field)
                        handle = await asyncio.to_thread(staged.open, "wb")
                        upload.staged, upload.filename = staged, part.filename
                elif event is None:
                    if part is not None and part.name != file_field:
                        upload.fields[part.name] = text.decode("utf-8", errors="replace")
                    part = None
                elif part is not None and part.name == file_field and handle is not None:
                    upload.size += len(event)
                    if upload.size > max_bytes:
                        raise _too_large(max_bytes)
                    buffer += event
                    if len(buffer) >= _WRITE_CHUNK:
                        data, buffer = bytes(buffer), bytearray()
                        await asyncio.to_thread(handle.write, data)
                elif part is not None:
                    text += event
                    if len(text) > FIELD_LIMIT:
                        raise InvalidRequest(f"Form field '{part.name}' is too long.", param=part.name)
        parser.close()
    except multipart.MultipartError as exc:
        if handle is not None:
            handle.close()
        raise InvalidRequest(f"The multipart body could not be parsed: {exc}.") from None
    except BaseException:
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.close()
        raise
    return handle, buffer


def _finish(handle: BinaryIO, buffer: bytearray) -> None:
    with handle:
        handle.write(buffer)
        handle.flush()


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The file is larger than this server accepts ({max_bytes} bytes).", param="file",
                           code="file_too_large")
