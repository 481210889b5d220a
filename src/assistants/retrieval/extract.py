"""Text out of a file's bytes, by its extension: plain text, Markdown, code, JSON, HTML, PDF, DOCX.

Two ways to fail, as OpenAI reports them on a vector store file: `unsupported_file` (a type we do not
read) and `invalid_file` (a type we read, but these bytes are not a valid one: binary junk named
`.txt`, a broken PDF, an empty file).
"""

from __future__ import annotations

import io
import json
from html.parser import HTMLParser
from pathlib import PurePath

TEXT_EXTENSIONS = frozenset({
    ".txt", ".md", ".markdown", ".rst", ".csv", ".tsv", ".log", ".tex", ".xml", ".yaml", ".yml", ".toml",
    ".ini", ".py", ".js", ".ts", ".jsx", ".tsx", ".java", ".c", ".h", ".cpp", ".hpp", ".cc", ".cs", ".go",
    ".rs", ".rb",
    ".php", ".sh", ".css", ".sql", ".kt", ".swift", ".scala", ".lua", ".r", ".pl",
})
HTML_EXTENSIONS = frozenset({".html", ".htm"})
SUPPORTED = TEXT_EXTENSIONS | HTML_EXTENSIONS | {".json", ".pdf", ".docx"}


class ExtractionError(Exception):
    code = "invalid_file"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedFile(ExtractionError):
    code = "unsupported_file"


class InvalidFile(ExtractionError):
    code = "invalid_file"


def extract_text(filename: str, data: bytes) -> str:
    extension = PurePath(filename).suffix.lower()
    if extension not in SUPPORTED:
        raise UnsupportedFile(f"Files of type '{extension or filename}' are not supported for retrieval. "
                              f"Supported: {', '.join(sorted(SUPPORTED))}.")
    if not data:
        raise InvalidFile("The file is empty.")
    if extension == ".pdf":
        text = _pdf(data)
    elif extension == ".docx":
        text = _docx(data)
    else:
        text = _decode(data)
        if extension == ".json":
            try:
                json.loads(text)
            except ValueError as exc:
                raise InvalidFile(f"The file is not valid JSON: {exc}.") from None
        elif extension in HTML_EXTENSIONS:
            text = _html(text)
    if not text.strip():
        raise InvalidFile("The file contains no text.")
    return text


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise InvalidFile("The file is not text (it is not valid UTF-8).") from None
    if "\x00" in text:
        raise InvalidFile("The file is not text (it contains NUL bytes).")
    return text


class _HtmlText(HTMLParser):
    _SKIP = frozenset({"script", "style", "noscript", "template"})
    _BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section",
                        "article",
                        "pre", "blockquote", "table", "ul", "ol", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _html(text: str) -> str:
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader

    # Broad on purpose: these parsers meet arbitrary bytes, and any failure of theirs means "not a valid
    # file of this type", never a server error.
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise InvalidFile("The PDF is encrypted.")
        return "\n\n".join(page.extract_text() or "" for page in reader.pages)
    except InvalidFile:
        raise
    except Exception as exc:
        raise InvalidFile(f"The file is not a readable PDF: {exc}.") from None


def _docx(data: bytes) -> str:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # as in _pdf: any parser failure means "not a valid DOCX"
        raise InvalidFile(f"The file is not a readable DOCX document: {exc}.") from None
    parts = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text for cell in row.cells))
    return "\n".join(parts)
