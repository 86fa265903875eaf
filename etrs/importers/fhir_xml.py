"""Safe FHIR XML → FHIR JSON conversion (lxml, locked down, + fhir.resources R4B metadata).

lxml's parser is set up so that nothing outside the bytes is ever read and nothing is
expanded: no entity resolution, no DTD loading, no network, libxml2's default size and
depth limits (no huge_tree); a document that declares a DOCTYPE at all is refused as a
security issue. libxml2 builds the tree in C (a 30 MB bundle in a fraction of a second)
and one walk turns it into the JSON form the R4B models validate. Which elements are
lists, primitives or resources comes from the models themselves, so the conversion
follows the specification rather than a hand-kept table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir_core.utils import get_fhir_type_name, is_list_type, is_primitive_type
from lxml import etree  # type: ignore[import-untyped]

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
_VERSION_PREFIX = "R4."  # fhir_core's key for R4/R4B type maps
_INT_TYPES = frozenset({"integer", "positiveInt", "unsignedInt", "integer64"})
# primitives whose JSON value is not the attribute text as it stands
_CONVERTED_TYPES = _INT_TYPES | {"boolean", "decimal"}
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
def element_fields(klass: Any) -> dict[str, _Field]:
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


@cache
def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def _primitive(raw: str, type_name: str, path: str | None = None) -> Any:
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


def _xml_parser() -> Any:
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def _security(detail: str) -> FhirXmlError:
    err = FhirXmlError(
        "XML met DTD, entiteiten of externe verwijzingen wordt om veiligheidsredenen geweigerd",
        f"XML with a DTD, entities or external references is refused for safety ({detail})",
    )
    err.security = True
    return err


def parse_xml(data: bytes, *, max_depth: int = 64) -> dict[str, Any]:
    """Parse FHIR XML safely and return the equivalent FHIR JSON object.

    Equal elements of different resources may be one shared object: treat the result as
    read-only (copy before changing it).
    """
    if not isinstance(data, bytes | bytearray):
        raise FhirXmlError("Geen geldige XML", "Not well-formed XML (not bytes)")
    try:
        root = etree.fromstring(bytes(data), _xml_parser())
    except etree.XMLSyntaxError as exc:
        if "entity" in str(exc).lower() or "doctype" in str(exc).lower():
            raise _security(str(exc)[:200]) from None
        line, col = exc.position if exc.position else (0, 0)
        raise FhirXmlError(
            f"Geen geldige XML (regel {line}, positie {col})",
            f"Not well-formed XML (line {line}, column {col})",
        ) from None
    except (ValueError, UnicodeError, RecursionError, TypeError, etree.LxmlError) as exc:
        raise FhirXmlError("Geen geldige XML", f"Not well-formed XML ({exc})") from None
    if root is None:
        raise FhirXmlError("Geen geldige XML", "Not well-formed XML (no root element)")
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise _security("DOCTYPE")
    tag = root.tag
    if not isinstance(tag, str):
        raise FhirXmlError("Geen geldige XML", "Not well-formed XML (no root element)")
    ns, name = _local(tag)
    if ns != FHIR_NS:
        raise FhirXmlError(
            f"Het hoofdelement moet in namespace {FHIR_NS} staan",
            f"The root element must be in namespace {FHIR_NS}",
            name,
        )
    return _Walker(max_depth).resource(root, name, name, 0)


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


def _elements(elem: Any) -> list[Any]:
    """Child elements (text is ignored: FHIR XML carries values in attributes).

    Entity references cannot occur: entities are never resolved and a document with a
    DOCTYPE, the only place one could be declared, is refused before the walk.
    """
    return list(elem.iterchildren(etree.Element)) if len(elem) else []


class _Walker:
    """Turns an lxml tree of FHIR XML into FHIR JSON, checking it against the R4B models."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        # (type, depth, serialised element) → its JSON: a pharmacy list repeats most of a
        # resource's elements (category, medication, dosage) across clients; converting the
        # same bytes twice gives the same JSON, so equal elements share one (read-only) value
        self.memo: dict[tuple[str, int, bytes], Any] = {}

    def _deeper(self, depth: int, path: str) -> int:
        if depth >= self.max_depth:
            raise FhirXmlError(
                "XML is te diep genest", f"XML nested deeper than {self.max_depth} levels", path
            )
        return depth + 1

    def resource(self, elem: Any, name: str, path: str, depth: int) -> dict[str, Any]:
        """A resource element (the root, or the one child of a resource container)."""
        klass = _resource_class(name, path)
        out = self.complex(elem, klass, path, depth, top=True)
        out["resourceType"] = klass.get_resource_type()
        return out

    @staticmethod
    def _attributes(elem: Any, klass: Any, out: dict[str, Any], path: str) -> None:
        if not len(elem.attrib):
            return
        fields = element_fields(klass)
        for attr, value in elem.attrib.items():
            # Element.id and Extension.url are XML attributes; anything else is not FHIR
            if attr in ("id", "url") and attr in fields:
                out[attr] = value
            else:
                raise FhirXmlError(
                    f"Onverwacht attribuut '{attr}'", f"Unexpected attribute '{attr}'", path
                )

    def complex(
        self, elem: Any, klass: Any, path: str, depth: int, *, top: bool = False
    ) -> dict[str, Any]:
        """A complex element or resource: attributes and child elements by the model."""
        depth = self._deeper(depth, path)
        out: dict[str, Any] = {}
        self._attributes(elem, klass, out, path)
        fields = element_fields(klass)
        for child in _elements(elem):
            ns, name = _local(child.tag)
            spec = fields.get(name)
            if spec is None or (ns != FHIR_NS and spec.kind != "xhtml"):
                raise FhirXmlError(
                    f"Onbekend element '{name}' in {klass.__name__}",
                    f"Unknown element '{name}' in {klass.__name__}",
                    f"{path}.{name}",
                )
            is_list = spec.is_list
            items: list[Any] = []
            index = 0
            if is_list:
                items = out.setdefault(name, items)
                index = len(items)
            elif name in out:
                raise FhirXmlError(
                    f"Element '{name}' mag maar één keer voorkomen",
                    f"Element '{name}' may occur only once",
                    f"{path}.{name}",
                )
            ext: dict[str, Any] | None = None
            value: Any
            kind = spec.kind
            if kind == "primitive":
                keys = child.keys()
                if keys == ["value"] and not len(child):
                    # the common case: <x value="..."/>
                    raw = child.get("value")
                    if spec.type_name not in _CONVERTED_TYPES:
                        value = raw
                    else:
                        try:
                            value = _primitive(raw, spec.type_name)
                        except FhirXmlError as exc:
                            exc.expression = self._path(child, path, spec)
                            raise
                else:
                    value, ext = self.primitive(child, spec, path, depth)
            elif kind == "complex":
                if top:
                    key = (spec.type_name, depth, etree.tostring(child, with_tail=False))
                    value = self.memo.get(key)
                    if value is None:
                        cpath = f"{path}.{name}[{index}]" if is_list else f"{path}.{name}"
                        value = self.memo[key] = self.complex(
                            child, _model(spec.type_name), cpath, depth
                        )
                else:
                    cpath = f"{path}.{name}[{index}]" if is_list else f"{path}.{name}"
                    value = self.complex(child, _model(spec.type_name), cpath, depth)
            elif kind == "resource":
                cpath = f"{path}.{name}[{index}]" if is_list else f"{path}.{name}"
                value = self.container(child, cpath, depth)
            else:
                value = self.xhtml(child)
            if is_list:
                items.append(value)
                if ext is not None or f"_{name}" in out:
                    exts = out.setdefault(f"_{name}", [])
                    exts.extend([None] * (index - len(exts)))
                    exts.append(ext)
            else:
                out[name] = value
                if ext is not None:
                    out[f"_{name}"] = ext
        return out

    def primitive(
        self, elem: Any, spec: _Field, parent: str, depth: int
    ) -> tuple[Any, dict[str, Any] | None]:
        """A primitive: its value attribute, an optional id and extensions."""
        value: Any = None
        ext: dict[str, Any] = {}
        for attr, raw in elem.attrib.items():
            if attr == "value":
                try:
                    value = _primitive(raw, spec.type_name)
                except FhirXmlError as exc:
                    exc.expression = self._path(elem, parent, spec)
                    raise
            elif attr == "id":
                ext["id"] = raw
            else:
                raise FhirXmlError(
                    f"Onverwacht attribuut '{attr}'",
                    f"Unexpected attribute '{attr}'",
                    self._path(elem, parent, spec),
                )
        children = _elements(elem)
        if children:
            path = self._path(elem, parent, spec)
            depth = self._deeper(depth, path)
            extension_klass = _model("Extension")
            found: list[dict[str, Any]] = []
            for child in children:
                cns, cname = _local(child.tag)
                if cns != FHIR_NS or cname != "extension":
                    raise FhirXmlError(
                        f"Onbekend element '{cname}' in primitief element",
                        f"Unknown element '{cname}' inside a primitive element",
                        f"{path}.{cname}",
                    )
                found.append(
                    self.complex(child, extension_klass, f"{path}.extension[{len(found)}]", depth)
                )
            ext["extension"] = found
        return value, (ext or None)

    @staticmethod
    def _path(elem: Any, parent: str, spec: _Field) -> str:
        """Where a primitive sits (worked out only for an error message)."""
        name = spec.name
        if not spec.is_list:
            return f"{parent}.{name}"
        index = sum(1 for s in elem.itersiblings(preceding=True) if s.tag == elem.tag)
        return f"{parent}.{name}[{index}]"

    def container(self, elem: Any, path: str, depth: int) -> dict[str, Any]:
        """An element holding exactly one resource (Bundle.entry.resource, contained)."""
        depth = self._deeper(depth, path)
        if len(elem.attrib):
            raise FhirXmlError(
                f"Onverwacht attribuut '{next(iter(elem.attrib))}'",
                f"Unexpected attribute '{next(iter(elem.attrib))}'",
                path,
            )
        children = _elements(elem)
        if len(children) != 1:
            raise FhirXmlError(
                "Verwacht precies één resource", "Expected exactly one resource", path
            )
        ns, name = _local(children[0].tag)
        if ns != FHIR_NS:
            raise FhirXmlError(
                f"Resource '{name}' staat niet in de FHIR-namespace",
                f"Resource '{name}' is not in the FHIR namespace",
                path,
            )
        return self.resource(children[0], name, path, depth)

    @staticmethod
    def xhtml(elem: Any) -> str:
        """Narrative XHTML, as the string FHIR JSON carries."""
        text: str = etree.tostring(elem, encoding="unicode", with_tail=False)
        return text
