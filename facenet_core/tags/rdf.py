"""Safe XMP parsing: untrusted bytes in, one plain tree of RDF properties out.

XMP is RDF/XML, and one value has many spellings: a struct is a ``parseType="Resource"`` element,
a nested ``rdf:Description`` or a set of attributes; an array is a ``Bag``, ``Seq`` or ``Alt``.
:func:`parse_xmp` folds them all into plain Python values (``str``, ``list``, ``dict`` keyed by
``"{namespace}local"``), so each format module reads one shape.

The bytes come from photos made by anyone, so the parser refuses DTDs, entity declarations and
external references (defusedxml; an entity bomb or an ``file:///etc/passwd`` entity stops with a
reason instead of expanding), refuses packets above :data:`MAX_PACKET_BYTES`, and limits nesting.
"""

from __future__ import annotations

import re
from typing import TypeAlias
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XML = "http://www.w3.org/XML/1998/namespace"
_R = "{" + RDF + "}"
MAX_PACKET_BYTES = 16 * 1024 * 1024
"""Largest XMP packet read (real ones are a few KiB; ExtendedXMP rarely exceeds a few MiB)."""
MAX_DEPTH = 64

Value: TypeAlias = "str | list[Value] | dict[str, Value]"
Props = dict[str, Value]

_ARRAYS = {_R + "Bag", _R + "Seq", _R + "Alt"}
_ENCODING_DECL = re.compile(rb"(<\?xml[^>]*?)\sencoding=['\"][^'\"]*['\"]")


class XmpError(Exception):
    """XMP that cannot be read; the message is the reason recorded for the photo. ``partial``
    holds the packets that could still be read (a JPEG whose ExtendedXMP is refused keeps its
    standard packet)."""

    def __init__(self, reason: str, partial: list[bytes] | None = None) -> None:
        super().__init__(reason)
        self.partial = partial or []


def parse_root(data: bytes) -> Element:
    """The XML element tree of an XMP packet, parsed safely; raises :class:`XmpError`."""
    if len(data) > MAX_PACKET_BYTES:
        raise XmpError(f"XMP packet too large ({len(data) / 2**20:.1f} MiB)")
    try:
        return _parse(data)
    except (DefusedXmlException, ValueError) as exc:
        raise XmpError(f"unsafe XMP refused ({type(exc).__name__})") from exc
    except ParseError as exc:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            # Old Windows tools wrote XMP in their code page: read it as cp1252 rather than drop it.
            text = data.decode("cp1252", errors="replace").encode("utf-8")
            try:
                return _parse(_ENCODING_DECL.sub(rb"\1", text))
            except (ParseError, DefusedXmlException, ValueError):
                pass
        raise XmpError(f"malformed XMP ({exc})") from exc


def _parse(data: bytes) -> Element:
    root: Element = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    return root


def parse_xmp(data: bytes) -> Props:
    """Every top-level property of an XMP packet, its ``rdf:Description`` blocks merged."""
    root = parse_root(data)
    props: Props = {}
    for rdf in _rdf_roots(root):
        for desc in rdf:
            if desc.tag == _R + "Description":
                props.update(_struct(desc, 0))
    return props


def _rdf_roots(root: Element) -> list[Element]:
    if root.tag == _R + "RDF":
        return [root]
    return list(root.iter(_R + "RDF"))


def _plain_attrs(elem: Element) -> dict[str, Value]:
    return {k: v for k, v in elem.attrib.items() if not k.startswith(("{" + RDF, "{" + XML))}


def _struct(elem: Element, depth: int) -> dict[str, Value]:
    out: dict[str, Value] = dict(_plain_attrs(elem))
    for child in elem:
        if isinstance(child.tag, str):
            out[child.tag] = value_of(child, depth + 1)
    return out


def value_of(elem: Element, depth: int = 0) -> Value:
    """The value of one property element, whatever RDF spelling it uses."""
    if depth > MAX_DEPTH:
        raise XmpError("XMP nested too deeply")
    resource = elem.get(f"{{{RDF}}}resource")
    if resource is not None:
        return resource
    if elem.get(f"{{{RDF}}}parseType") == "Resource":
        return _struct(elem, depth)
    children = [c for c in elem if isinstance(c.tag, str)]
    if children:
        first = children[0]
        if first.tag in _ARRAYS:
            return [value_of(li, depth + 1) for li in first if li.tag == _R + "li"]
        if first.tag == _R + "Description":
            out = dict(_plain_attrs(elem))
            out.update(_struct(first, depth + 1))
            return out
        return _struct(elem, depth)
    attrs = _plain_attrs(elem)
    if attrs:
        return attrs
    return elem.text or ""


def text(value: Value | None) -> str | None:
    """A simple value as text: a language alternative gives its first item, a qualified value its
    ``rdf:value``."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return text(value[0]) if value else None
    if isinstance(value, dict):
        return text(value.get(_R + "value"))
    return None


def items(value: Value | None) -> list[Value]:
    """An array's items (a single value is an array of one)."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def number(value: Value | None) -> float | None:
    """A real number, or None for anything else (including NaN and infinities)."""
    raw = text(value)
    if raw is None:
        return None
    try:
        result = float(raw.strip())
    except ValueError:
        return None
    return result if result == result and abs(result) != float("inf") else None


def field(struct: Value | None, ns: str, local: str) -> Value | None:
    """One field of a struct, or None."""
    if isinstance(struct, dict):
        return struct.get(f"{{{ns}}}{local}")
    return None
