"""JSON-schema `pattern`s rewritten so the grammar built from them writes only valid JSON strings.

The grammar writes a string's JSON *text*, but llama-cpp-python's converter copies a pattern's
character classes and literals into it as they are: `[^,]+` or `[ -~]+` then allow a raw `"` (the
string ends early), a backslash or a control character (invalid JSON), and `\\.` becomes a grammar
escape that does not parse. So, before conversion:
* every character class becomes an explicit positive class without `"`, backslash and U+0000-U+001F
  (a negated class is complemented first), written with hex escapes the grammar reads exactly;
* `\\d`, `\\w` and `\\s` become classes (`\\s` as the space alone: tabs and newlines need escapes in
  JSON); an escaped metacharacter (`\\.`, `\\(`, ...) becomes a one-character class; `(?:` becomes `(`.
The grammar then allows a subset of what the pattern matches, every member of it valid JSON.
Refused (ValueError): a literal `"` or backslash, other escapes (`\\n`, `\\x41`, `\\b`, back-references),
`\\D` / `\\W` / `\\S` (Python's are Unicode-wide), lookarounds, anchors inside the pattern, raw control
characters.
"""

from __future__ import annotations

MAX_CODE_POINT = 0x10FFFF
_UNSAFE = [(0x00, 0x1F), (0x22, 0x22), (0x5C, 0x5C)]
"""What a JSON string cannot hold unescaped: control characters, quote, backslash."""
_SHORTHANDS = {"d": [(0x30, 0x39)],
               "w": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
               "s": [(0x20, 0x20)]}

Ranges = list[tuple[int, int]]


def json_safe_pattern(pattern: str) -> str:
    """`pattern` (anchored with ^...$) in the form the converter turns into JSON-safe grammar rules."""
    if not (pattern.startswith("^") and pattern.endswith("$") and len(pattern) >= 2):
        raise ValueError("a pattern must be anchored: start with '^' and end with '$'")
    body, out, i = pattern[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c == "[":
            ranges, i = _parse_class(body, i + 1)
            out.append(_class(ranges))
            continue
        if c == "\\":
            if i + 1 >= len(body):
                raise ValueError("the pattern ends with a lone backslash")
            out.append(_class(_escape_ranges(body[i + 1])))
            i += 2
            continue
        if c == "(" and body.startswith("(?", i):
            if not body.startswith("(?:", i):
                raise ValueError("lookarounds and other '(?' groups are not supported in a pattern")
            out.append("(")
            i += 3
            continue
        if c in "^$":
            raise ValueError(f"'{c}' inside a pattern is not supported (only as its anchors)")
        if c == '"' or ord(c) < 0x20:
            raise ValueError(f"the pattern's literal {c!r} would need an escape in JSON; "
                             "use a character class that leaves it out")
        out.append(c)
        i += 1
    return "^" + "".join(out) + "$"


def _escape_ranges(c: str) -> Ranges:
    if c in _SHORTHANDS:
        return _SHORTHANDS[c]
    if c.isalnum() or c in '"\\':
        raise ValueError(f"the escape '\\{c}' is not supported in a pattern")
    return [(ord(c), ord(c))]


def _parse_class(body: str, i: int) -> tuple[Ranges, int]:
    """The code points of the class starting after its `[`, and the index after its `]`."""
    negated = body.startswith("^", i)
    i += negated
    ranges: Ranges = []
    first = True
    while True:
        if i >= len(body):
            raise ValueError("unbalanced '[' in the pattern")
        c = body[i]
        if c == "]" and not first:
            i += 1
            break
        first = False
        if c == "\\":
            if i + 1 >= len(body):
                raise ValueError("unbalanced '[' in the pattern")
            items = _escape_ranges(body[i + 1])
            i += 2
        else:
            items = [(ord(c), ord(c))]
            i += 1
        if len(items) == 1 and items[0][0] == items[0][1] and body.startswith("-", i) \
                and i + 1 < len(body) and body[i + 1] != "]":
            if body[i + 1] == "\\":
                end = _escape_ranges(body[i + 2]) if i + 2 < len(body) else []
                i += 3
            else:
                end = [(ord(body[i + 1]), ord(body[i + 1]))]
                i += 2
            if len(end) != 1 or end[0][0] != end[0][1] or end[0][0] < items[0][0]:
                raise ValueError("a bad range in a pattern's character class")
            items = [(items[0][0], end[0][0])]
        ranges.extend(items)
    ranges = _normalised(ranges)
    return (_complement(ranges) if negated else ranges), i


def _normalised(ranges: Ranges) -> Ranges:
    merged: Ranges = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def _complement(ranges: Ranges) -> Ranges:
    result, start = [], 0
    for lo, hi in ranges:
        if lo > start:
            result.append((start, lo - 1))
        start = hi + 1
    if start <= MAX_CODE_POINT:
        result.append((start, MAX_CODE_POINT))
    return result


def _without_unsafe(ranges: Ranges) -> Ranges:
    allowed = _complement(_UNSAFE)
    return [(max(lo, a), min(hi, b)) for lo, hi in ranges for a, b in allowed if max(lo, a) <= min(hi, b)]


def _class(ranges: Ranges) -> str:
    safe = _without_unsafe(_normalised(ranges))
    if not safe:
        raise ValueError("a character class of the pattern holds only characters JSON must escape")
    return "[" + "".join(_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}" for lo, hi in safe) + "]"


def _char(code: int) -> str:
    """One class member as the grammar reads it: ASCII letters and digits as they are, else hex."""
    if code < 0x80 and chr(code).isalnum():
        return chr(code)
    if code <= 0xFF:
        return f"\\x{code:02X}"
    if code <= 0xFFFF:
        return f"\\u{code:04X}"
    return f"\\U{code:08X}"
