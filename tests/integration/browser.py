"""Headless Debian Chromium driven by Playwright, and a check that a screenshot shows something.

The browser is the system's `/usr/bin/chromium` (Debian package `chromium`; `scripts/test-deps`
installs it), never one Playwright downloads. A missing browser fails the tests that need it.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import BrowserContext, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 300_000
"""For every wait: the bundled model decodes slowly on a busy machine; a wait fails, it never passes early."""


@contextmanager
def chromium(profile: Path) -> Iterator[BrowserContext]:
    """A browser with a fresh profile directory (`--user-data-dir`); pages opened in it share it."""
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: run scripts/test-deps (apt-get install chromium)"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=FLAGS,
            viewport={"width": 1400, "height": 850})
        context.set_default_timeout(TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


def distinct_colours(png: bytes, enough: int = 64) -> int:
    """How many pixel values the PNG holds (counting stops at `enough`): 1 means a blank image.

    Decodes the 8-bit, non-interlaced RGB/RGBA PNGs Chromium writes: zlib, then per-row unfiltering."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    chunks: dict[bytes, list[bytes]] = {}
    offset = 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset:offset + 4])
        kind = png[offset + 4:offset + 8]
        chunks.setdefault(kind, []).append(png[offset + 8:offset + 8 + length])
        offset += 12 + length
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"][0])
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, "unexpected PNG format"
    pixel = 3 if colour_type == 2 else 4
    stride = width * pixel
    raw = zlib.decompress(b"".join(chunks[b"IDAT"]))
    previous = bytearray(stride)
    colours: set[bytes] = set()
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - pixel] if i >= pixel else 0
            up = previous[i]
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                up_left = previous[i - pixel] if i >= pixel else 0
                guess = left + up - up_left
                near = min((abs(guess - left), left), (abs(guess - up), up), (abs(guess - up_left), up_left),
                           key=lambda pair: pair[0])
                line[i] = (line[i] + near[1]) & 0xFF
        for i in range(0, stride, pixel):
            colours.add(bytes(line[i:i + pixel]))
        if len(colours) >= enough:
            return len(colours)
        previous = line
    return len(colours)
