"""Safe FHIR XML → FHIR JSON conversion (defusedxml + fhir.resources R4B model metadata).

fhir.resources can read XML only through lxml, which is not a dependency and resolves
entities by default; we parse with defusedxml instead (no DTD, no entity expansion, no
external references) and build the JSON form the R4B models validate. Which elements are
lists, primitives or resources comes from the models themselves, so the conversion follows
the specification rather than a hand-kept table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any
from xml.etree.ElementTree import ParseError, TreeBuilder, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser
from fhir.resources.R4B import get_fhir_model_class
from fhir_core.utils import get_fhir_type_name, is_list_type, is_primitive_type

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_VERSION_PREFIX = "R4."  # fhir_core's key for R4/R4B type maps
_INT_TYPES = frozenset({"integer", "positiveInt", "unsignedInt", "integer64"})
_INT_RE = re.compile(r"^[+-]?\d{1,18}$")


class FhirXmlError(Exception):
    """The XML is unsafe, malformed or not FHIR; carries both languages and a location."""

    def __init__(self, message_nl: str, message_en: str, expression: str | None = None) -> None:
        super().__init__(message_en)
        self.message_nl = message_nl
        self.message_en = message_en
        self.expression = expression
        self.security = False


@dataclass(frozen=True)
class _Field:
    name: str  # JSON / XML element name
    is_list: bool
    kind: str  # "primitive" | "xhtml" | "resource" | "complex"
    type_name: str


@cache
def _fields(klass: Any) -> dict[str, _Field]:
    """Element name → how to convert it, for one R4B model class."""
    out: dict[str, _Field] = {}
    for fname, info in klass.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if not extra.get("element_property"):
            continue
        name = info.alias or fname
        type_name = str(get_fhir_type_name(info, prefix=_VERSION_PREFIX))
        if is_primitive_type(info):
            kind = "xhtml" if type_name == "xhtml" else "primitive"
        elif type_name == "Resource":
            kind = "resource"
        else:
            kind = "complex"
        out[name] = _Field(name, is_list_type(info), kind, type_name)
    return out


@cache
def _model(type_name: str) -> type[Any]:
    return get_fhir_model_class(type_name)


def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def _primitive(raw: str, type_name: str, path: str) -> Any:
    """XML attribute text → JSON value of the right JSON type."""
    if type_name == "boolean":
        if raw in ("true", "false"):
            return raw == "true"
    elif type_name in _INT_TYPES:
        if _INT_RE.match(raw):
            return int(raw)
    elif type_name == "decimal":
        try:
            value = Decimal(raw)
        except InvalidOperation:
            pass
        else:
            if value.is_finite():
                return value
    else:
        return raw
    raise FhirXmlError(
        f"'{raw}' is geen geldige waarde voor type {type_name}",
        f"'{raw}' is not a valid {type_name}",
        path,
    )


def parse_xml(data: bytes, *, max_depth: int = 64) -> dict[str, Any]:
    """Parse FHIR XML safely and return the equivalent FHIR JSON object."""
    builder = _Builder(max_depth)
    # defusedxml's parser with our own target: the JSON is built while expat reads, so a
    # 5,000-client bundle never exists a second time as an element tree in memory
    parser = DefusedXMLParser(
        target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        parser.feed(data)
        parser.close()
    except DefusedXmlException as exc:
        err = FhirXmlError(
            "XML met DTD, entiteiten of externe verwijzingen wordt om veiligheidsredenen geweigerd",
            f"XML with a DTD, entities or external references is refused for safety ({exc})",
        )
        err.security = True
        raise err from None
    except ParseError as exc:
        line, col = exc.position
        raise FhirXmlError(
            f"Geen geldige XML (regel {line}, positie {col})",
            f"Not well-formed XML (line {line}, column {col})",
        ) from None
    except FhirXmlError:
        raise
    except (ValueError, UnicodeError, RecursionError, TypeError) as exc:
        raise FhirXmlError("Geen geldige XML", f"Not well-formed XML ({exc})") from None
    if builder.result is None:
        raise FhirXmlError("Geen geldige XML", "Not well-formed XML (no root element)")
    return builder.result


def _resource_class(name: str, path: str) -> Any:
    try:
        klass = _model(name)
    except ValueError:
        raise FhirXmlError(
            f"Onbekend FHIR-resourcetype '{name}'", f"Unknown FHIR resource type '{name}'", path
        ) from None
    if not getattr(klass, "has_resource_base", lambda: False)():
        raise FhirXmlError(
            f"'{name}' is geen FHIR-resource", f"'{name}' is not a FHIR resource", path
        )
    return klass


class _Frame:
    """One open XML element while streaming."""

    __slots__ = ("kind", "klass", "spec", "out", "counts", "path", "value", "ext", "extra")

    def __init__(self, kind: str, klass: Any, spec: _Field | None, path: str) -> None:
        self.kind = kind  # resource | complex | primitive | container | xhtml
        self.klass = klass
        self.spec = spec
        self.out: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self.path = path
        self.value: Any = None
        self.ext: dict[str, Any] = {}
        self.extra: Any = None  # container: the resource; xhtml: (TreeBuilder, depth)


class _Builder:
    """ElementTree parser target that turns FHIR XML events into FHIR JSON."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self.stack: list[_Frame] = []
        self.result: dict[str, Any] | None = None

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        """Open an element."""
        stack = self.stack
        if len(stack) > self.max_depth:
            where = stack[-1].path if stack else ""
            raise FhirXmlError(
                "XML is te diep genest", f"XML nested deeper than {self.max_depth} levels", where
            )
        ns, name = _local(tag)
        if not stack:
            if self.result is not None:
                raise FhirXmlError("Meer dan één hoofdelement", "More than one root element")
            if ns != FHIR_NS:
                raise FhirXmlError(
                    f"Het hoofdelement moet in namespace {FHIR_NS} staan",
                    f"The root element must be in namespace {FHIR_NS}",
                    name,
                )
            stack.append(self._open_resource(name, attrib, name))
            return
        parent = stack[-1]
        if parent.kind == "xhtml":
            tb, depth = parent.extra
            tb.start(tag, attrib)
            parent.extra = (tb, depth + 1)
            return
        if parent.kind == "container":
            if parent.extra is not None:
                raise FhirXmlError(
                    "Verwacht precies één resource", "Expected exactly one resource", parent.path
                )
            if ns != FHIR_NS:
                raise FhirXmlError(
                    f"Resource '{name}' staat niet in de FHIR-namespace",
                    f"Resource '{name}' is not in the FHIR namespace",
                    parent.path,
                )
            stack.append(self._open_resource(name, attrib, parent.path))
            return
        if parent.kind == "primitive":
            if ns != FHIR_NS or name != "extension":
                raise FhirXmlError(
                    f"Onbekend element '{name}' in primitief element",
                    f"Unknown element '{name}' inside a primitive element",
                    f"{parent.path}.{name}",
                )
            n = len(parent.ext.get("extension", ()))
            frame = _Frame("complex", _model("Extension"), None, f"{parent.path}.extension[{n}]")
            self._attributes(frame, attrib)
            stack.append(frame)
            return
        fields = _fields(parent.klass)
        spec = fields.get(name)
        if spec is None or (ns != FHIR_NS and spec.kind != "xhtml"):
            raise FhirXmlError(
                f"Onbekend element '{name}' in {parent.klass.__name__}",
                f"Unknown element '{name}' in {parent.klass.__name__}",
                f"{parent.path}.{name}",
            )
        index = parent.counts.get(name, 0)
        parent.counts[name] = index + 1
        if index and not spec.is_list:
            raise FhirXmlError(
                f"Element '{name}' mag maar één keer voorkomen",
                f"Element '{name}' may occur only once",
                f"{parent.path}.{name}",
            )
        path = f"{parent.path}.{name}[{index}]" if spec.is_list else f"{parent.path}.{name}"
        if spec.kind == "primitive":
            frame = _Frame("primitive", None, spec, path)
            for attr, raw in attrib.items():
                if attr == "value":
                    frame.value = _primitive(raw, spec.type_name, path)
                elif attr == "id":
                    frame.ext["id"] = raw
                else:
                    raise FhirXmlError(
                        f"Onverwacht attribuut '{attr}'", f"Unexpected attribute '{attr}'", path
                    )
        elif spec.kind == "complex":
            frame = _Frame("complex", _model(spec.type_name), spec, path)
            self._attributes(frame, attrib)
        elif spec.kind == "resource":
            frame = _Frame("container", None, spec, path)
        else:
            tb = TreeBuilder()
            tb.start(tag, attrib)
            frame = _Frame("xhtml", None, spec, path)
            frame.extra = (tb, 1)
        stack.append(frame)

    def _open_resource(self, name: str, attrib: dict[str, str], path: str) -> _Frame:
        frame = _Frame("resource", _resource_class(name, path), None, path)
        self._attributes(frame, attrib)
        return frame

    @staticmethod
    def _attributes(frame: _Frame, attrib: dict[str, str]) -> None:
        fields = _fields(frame.klass)
        for attr, value in attrib.items():
            # Element.id and Extension.url are XML attributes; anything else is not FHIR
            if attr in ("id", "url") and attr in fields:
                frame.out[attr] = value
            else:
                raise FhirXmlError(
                    f"Onverwacht attribuut '{attr}'", f"Unexpected attribute '{attr}'", frame.path
                )

    def data(self, text: str) -> None:
        """Text: only meaningful inside XHTML narrative."""
        if self.stack and self.stack[-1].kind == "xhtml":
            self.stack[-1].extra[0].data(text)

    def end(self, tag: str) -> None:
        """Close an element and attach its JSON value to the parent."""
        frame = self.stack[-1]
        if frame.kind == "xhtml":
            tb, depth = frame.extra
            tb.end(tag)
            if depth > 1:
                frame.extra = (tb, depth - 1)
                return
            elem = tb.close()
            try:
                value: Any = tostring(elem, encoding="unicode", default_namespace=XHTML_NS)
            except ValueError:
                value = tostring(elem, encoding="unicode")
            ext = None
        elif frame.kind == "container":
            if frame.extra is None:
                raise FhirXmlError(
                    "Verwacht precies één resource", "Expected exactly one resource", frame.path
                )
            value, ext = frame.extra, None
        elif frame.kind == "primitive":
            value, ext = frame.value, (frame.ext or None)
        else:
            value, ext = frame.out, None
            if frame.kind == "resource":
                value["resourceType"] = frame.klass.get_resource_type()
        self.stack.pop()
        if not self.stack:
            self.result = value
            return
        parent = self.stack[-1]
        if parent.kind == "container":
            parent.extra = value
            return
        if parent.kind == "primitive":
            parent.ext.setdefault("extension", []).append(value)
            return
        spec = frame.spec
        assert spec is not None  # only the root and primitive/container children lack one
        name = spec.name
        out = parent.out
        if spec.is_list:
            items = out.setdefault(name, [])
            index = len(items)
            items.append(value)
            if ext is not None or f"_{name}" in out:
                exts = out.setdefault(f"_{name}", [])
                exts.extend([None] * (index - len(exts)))
                exts.append(ext)
        else:
            out[name] = value
            if ext is not None:
                out[f"_{name}"] = ext

    def close(self) -> dict[str, Any] | None:
        """End of document."""
        return self.result
