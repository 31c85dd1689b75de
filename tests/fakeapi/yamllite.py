"""A small YAML subset loader for Kubernetes manifests (stdlib only).

Supported: multi-document streams (``---``), block mappings and sequences
(including "- key: value" items and sequences indented at the level of their
parent key), flow collections on one line (``{key: app, values: [bar]}``),
single- and double-quoted scalars, plain scalars resolved the way
sigs.k8s.io/yaml (go-yaml v2, YAML 1.1) resolves them (null/~, booleans incl.
yes/no/on/off, ints incl. 0x/0o, floats), literal and folded block scalars
(``|``, ``|-``, ``|+``, ``>``, ``>-``), multi-line plain and quoted scalars
and comments.

Not supported (raises YamlError): anchors/aliases, tags, complex keys and
multi-line flow collections.

selftest.py cross-checks this loader against ``kubectl ... --local -o json``
on every MetalLB fixture, so the two stay in agreement.
"""

from __future__ import annotations

import json
import re

__all__ = ["YamlError", "load_all", "load_file"]


class YamlError(ValueError):
    pass


_BOOL_TRUE = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}
_BOOL_FALSE = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}
_NULLS = {"", "~", "null", "Null", "NULL"}
_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")
_HEX = re.compile(r"^0x[0-9a-fA-F_]+$")
_OCT = re.compile(r"^0o?[0-7_]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?$")
_INF_NAN = {".inf": float("inf"), ".Inf": float("inf"), ".INF": float("inf"),
            "-.inf": float("-inf"), "-.Inf": float("-inf"), "-.INF": float("-inf"),
            ".nan": float("nan"), ".NaN": float("nan"), ".NAN": float("nan")}


def resolve_plain(text: str):
    """Resolve an unquoted scalar to None/bool/int/float/str."""
    if text in _NULLS:
        return None
    if text in _BOOL_TRUE:
        return True
    if text in _BOOL_FALSE:
        return False
    if _INT.match(text):
        return int(text.replace("_", ""))
    if _HEX.match(text):
        return int(text[2:].replace("_", ""), 16)
    if _OCT.match(text) and len(text) > 1:
        return int(text.lstrip("0o").replace("_", "") or "0", 8)
    if _FLOAT.match(text) and any(c.isdigit() for c in text):
        return float(text.replace("_", ""))
    if text in _INF_NAN:
        return _INF_NAN[text]
    return text


def _strip_comment(text: str) -> str:
    """Remove a trailing ' # comment' that is outside quotes."""
    quote = None
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"" and (i == 0 or text[i - 1] in " \t[{,:"):
            quote = c
        elif c == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip()
    return text.rstrip()


def _split_key(text: str):
    """Split 'key: value' at the first mapping colon outside quotes/flows.

    Returns (key, rest) or None when the text is not a mapping entry."""
    if text[:1] in "'\"":
        end = _quoted_end(text, 0)
        if end < 0:
            return None
        key = _parse_quoted(text[: end + 1])
        rest = text[end + 1:]
        if rest == ":" or rest.startswith(": ") or rest.startswith(":\t"):
            return key, rest[1:].strip()
        return None
    if text[:1] in "[{":
        return None
    for i, c in enumerate(text):
        if c == ":" and (i + 1 == len(text) or text[i + 1] in " \t"):
            return text[:i].rstrip(), text[i + 1:].strip()
    return None


def _quoted_end(text: str, start: int) -> int:
    q = text[start]
    i = start + 1
    while i < len(text):
        c = text[i]
        if q == '"' and c == "\\":
            i += 2
            continue
        if c == q:
            if q == "'" and i + 1 < len(text) and text[i + 1] == "'":
                i += 2
                continue
            return i
        i += 1
    return -1


def _parse_quoted(text: str) -> str:
    if text[0] == "'":
        return text[1:-1].replace("''", "'")
    body = text[1:-1]
    # JSON escapes are a subset of YAML's; add the common YAML-only ones.
    body = re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: "\\u00" + m.group(1), body)
    body = body.replace("\\/", "/").replace("\\ ", " ").replace("\\0", "\\u0000")
    try:
        return json.loads('"' + body + '"')
    except json.JSONDecodeError as e:
        raise YamlError(f"bad double-quoted scalar {text!r}: {e}") from None


class _Flow:
    """Parser for one-line flow collections: [a, b] and {k: v}."""

    def __init__(self, text: str):
        self.s = text
        self.i = 0

    def parse(self):
        value = self.value()
        self.ws()
        if self.i != len(self.s):
            raise YamlError(f"trailing characters in flow collection {self.s!r}")
        return value

    def ws(self):
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1

    def value(self):
        self.ws()
        c = self.s[self.i:self.i + 1]
        if c == "[":
            self.i += 1
            out = []
            while True:
                self.ws()
                if self.s[self.i:self.i + 1] == "]":
                    self.i += 1
                    return out
                out.append(self.value())
                self.ws()
                if self.s[self.i:self.i + 1] == ",":
                    self.i += 1
        if c == "{":
            self.i += 1
            out = {}
            while True:
                self.ws()
                if self.s[self.i:self.i + 1] == "}":
                    self.i += 1
                    return out
                key = self.value()
                self.ws()
                if self.s[self.i:self.i + 1] != ":":
                    raise YamlError(f"expected ':' in flow mapping {self.s!r}")
                self.i += 1
                out[key] = self.value()
                self.ws()
                if self.s[self.i:self.i + 1] == ",":
                    self.i += 1
        if c in ("'", '"'):
            end = _quoted_end(self.s, self.i)
            if end < 0:
                raise YamlError(f"unterminated quote in {self.s!r}")
            text = self.s[self.i:end + 1]
            self.i = end + 1
            return _parse_quoted(text)
        start = self.i
        while self.i < len(self.s) and self.s[self.i] not in ",]}":
            if self.s[self.i] == ":" and self.s[self.i + 1:self.i + 2] in (" ", ""):
                break
            self.i += 1
        if self.i >= len(self.s):
            raise YamlError(f"unterminated flow collection {self.s!r}")
        return resolve_plain(self.s[start:self.i].strip())


def _scalar(text: str):
    if not text:
        return None
    if text[0] in "'\"":
        end = _quoted_end(text, 0)
        if end != len(text) - 1:
            raise YamlError(f"unsupported quoted scalar {text!r}")
        return _parse_quoted(text)
    if text[0] in "[{":
        return _Flow(text).parse()
    if text[0] in "&*!":
        raise YamlError(f"anchors, aliases and tags are not supported: {text!r}")
    return resolve_plain(text)


class _Doc:
    def __init__(self, lines: list[str]):
        # Each entry: [indent, text-without-comment, raw-line]
        self.lines = []
        for raw in lines:
            stripped = raw.lstrip(" ")
            if "\t" in raw[: len(raw) - len(stripped)]:
                raise YamlError("tabs in indentation are not allowed")
            self.lines.append([len(raw) - len(stripped), stripped, raw])
        self.pos = 0

    def _significant(self, entry) -> bool:
        text = entry[1]
        return bool(text.strip()) and not text.startswith("#")

    def peek(self):
        while self.pos < len(self.lines) and not self._significant(self.lines[self.pos]):
            self.pos += 1
        return self.lines[self.pos] if self.pos < len(self.lines) else None

    def parse(self):
        if self.peek() is None:
            return None
        value = self.node(self.peek()[0])
        if self.peek() is not None:
            raise YamlError(f"unexpected content: {self.peek()[2]!r}")
        return value

    def node(self, indent: int):
        entry = self.peek()
        if entry is None or entry[0] < indent:
            return None
        text = _strip_comment(entry[1])
        if text == "-" or text.startswith("- "):
            return self.sequence(entry[0])
        if _split_key(text) is not None:
            return self.mapping(entry[0])
        self.pos += 1
        parts = [text]
        while self.peek() is not None and self.peek()[0] > indent - 1 and self.peek()[0] >= entry[0]:
            parts.append(_strip_comment(self.peek()[1]))  # multi-line plain scalar
            self.pos += 1
        if len(parts) > 1:
            return " ".join(p.strip() for p in parts)
        return _scalar(text)

    def sequence(self, indent: int):
        out = []
        while True:
            entry = self.peek()
            if entry is None or entry[0] != indent:
                return out
            text = _strip_comment(entry[1])
            if not (text == "-" or text.startswith("- ")):
                return out
            content = text[1:].lstrip(" ")
            if not content:
                self.pos += 1
                nxt = self.peek()
                out.append(self.node(nxt[0]) if nxt is not None and nxt[0] > indent else None)
                continue
            # Re-read the item content as if it started on its own line.
            offset = indent + len(text) - len(content)
            entry[0], entry[1] = offset, content
            if content == "-" or content.startswith("- ") or _split_key(content) is not None:
                out.append(self.node(offset))
            else:
                out.append(self.inline_value(content, indent))

    def mapping(self, indent: int):
        out = {}
        while True:
            entry = self.peek()
            if entry is None or entry[0] != indent:
                return out
            text = _strip_comment(entry[1])
            split = _split_key(text)
            if split is None:
                if text == "-" or text.startswith("- "):
                    return out
                raise YamlError(f"expected a mapping entry: {entry[2]!r}")
            key, rest = split
            if key == "<<":
                raise YamlError("merge keys are not supported")
            key = resolve_plain(key) if isinstance(key, str) and entry[1][:1] not in "'\"" else key
            if isinstance(key, (bool, int, float)) or key is None:
                key = "null" if key is None else json.dumps(key)
            if key in out:
                raise YamlError(f"duplicate key {key!r}")
            if rest:
                out[key] = self.inline_value(rest, indent)
                continue
            self.pos += 1
            nxt = self.peek()
            if nxt is not None and (nxt[0] > indent or (nxt[0] == indent and
                                                         (nxt[1].startswith("- ") or nxt[1].rstrip() == "-"))):
                out[key] = self.node(nxt[0])
            else:
                out[key] = None

    def inline_value(self, text: str, parent_indent: int):
        """Value written after 'key:' or '- ' on the current line."""
        self.pos += 1
        m = re.match(r"^([|>])([+-]?)([1-9]?)([+-]?)$", text)
        if m:
            return self.block_scalar(parent_indent, m.group(1), m.group(2) or m.group(4),
                                     int(m.group(3)) if m.group(3) else None)
        if text[0] in "'\"" and _quoted_end(text, 0) < 0:
            # Multi-line quoted scalar: line breaks fold to spaces, blank lines to "\n".
            while self.pos < len(self.lines) and _quoted_end(text, 0) < 0:
                line = self.lines[self.pos][1].strip()
                self.pos += 1
                text += "\n" if not line else (line if text.endswith("\n") else " " + line)
            text = _strip_comment(text)
        elif text[0] not in "'\"[{":
            # A plain scalar may continue on more-indented lines (folded with spaces).
            while self.peek() is not None and self.peek()[0] > parent_indent:
                text += " " + _strip_comment(self.peek()[1]).strip()
                self.pos += 1
        return _scalar(text)

    def block_scalar(self, parent_indent: int, style: str, chomp: str, explicit: int | None):
        raw_lines = []
        while self.pos < len(self.lines):
            ind, text, raw = self.lines[self.pos]
            if text.strip() and ind <= parent_indent:
                break
            raw_lines.append(raw)
            self.pos += 1
        content_indent = None
        if explicit is not None:
            content_indent = parent_indent + explicit
        else:
            for raw in raw_lines:
                if raw.strip():
                    content_indent = len(raw) - len(raw.lstrip(" "))
                    break
        if content_indent is None:
            return ""
        body = [raw[content_indent:] if raw.strip() else "" for raw in raw_lines]
        # Trailing blank lines belong to chomping, not content.
        trailing = 0
        while body and body[-1] == "":
            body.pop()
            trailing += 1
        if style == "|":
            text = "\n".join(body)
        else:
            text = ""
            for i, line in enumerate(body):
                if i == 0:
                    text = line
                elif line == "":
                    text += "\n"
                elif line.startswith(" ") or body[i - 1].startswith(" "):
                    text += "\n" + line
                elif body[i - 1] == "":
                    text += line
                else:
                    text += " " + line
        if not body:
            return "" if chomp != "+" else "\n" * trailing
        if chomp == "-":
            return text
        if chomp == "+":
            return text + "\n" + "\n" * trailing
        return text + "\n"


def load_all(text: str) -> list:
    """Parse a multi-document YAML stream; empty documents are dropped."""
    docs, current = [], []
    for raw in text.replace("\r\n", "\n").split("\n"):
        if raw.startswith("%"):
            continue
        if raw == "---" or raw.startswith("--- ") or raw == "...":
            docs.append(current)
            current = []
            continue
        current.append(raw)
    docs.append(current)
    out = []
    for lines in docs:
        value = _Doc(lines).parse()
        if value is not None:
            out.append(value)
    return out


def load_file(path: str) -> list:
    with open(path, encoding="utf-8") as f:
        return load_all(f.read())


if __name__ == "__main__":
    import sys
    for p in sys.argv[1:]:
        print(json.dumps(load_file(p), indent=2))
