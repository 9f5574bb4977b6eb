"""A signature's text (JSON or YAML) read within bounds, whoever wrote it.

A signature is a small document: a few features, a list of categories at most. Text that
is larger, nests deeper or (through YAML aliases) expands to more values than any signature
needs is refused with `SignatureError` (400) naming the bound, before it costs time or
memory: a 574-byte "billion laughs" YAML took 15 s and 3.3 GB unbounded, and a 50,000-deep
list was a `RecursionError`.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from forwardpass.errors import SignatureError

#: The largest signature text read, in bytes.
MAX_BYTES = 256 * 1024
#: The deepest nesting of lists and objects (a signature needs 5).
MAX_DEPTH = 32
#: The most values (each list, object, key and scalar) once YAML aliases are expanded.
MAX_VALUES = 50_000


def load(text: bytes | str, *, json_only: bool = False) -> Any:
    """The data of a signature's text: JSON, or YAML (which reads JSON too) unless
    `json_only`."""
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > MAX_BYTES:
        raise SignatureError(f"the signature is {len(raw)} bytes; at most {MAX_BYTES} are read")
    try:
        decoded = raw.decode()
    except UnicodeDecodeError as exc:
        raise SignatureError(f"the signature is not UTF-8 text: {exc}") from None
    if json_only:
        return _json(decoded)
    try:
        return yaml.load(decoded, Loader=_BoundedLoader)
    except yaml.YAMLError as exc:
        raise SignatureError(f"the signature is not valid JSON or YAML: {exc}") from None


def _json(text: str) -> Any:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SignatureError(f"the signature is not valid JSON: {exc}") from None
    except RecursionError:
        raise _too_deep() from None
    # JSON has no aliases: its values are bounded by its size; only the depth is left.
    level = [(data, 1)]
    while level:
        value, depth = level.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        if isinstance(value, dict):
            level.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            level.extend((child, depth + 1) for child in value)
    return data


def _too_deep() -> SignatureError:
    return SignatureError(f"the signature nests deeper than {MAX_DEPTH} levels")


class _Bounds(Composer):
    """PyYAML's composer, counting depth and values as it composes the document.

    An alias adds the values of the node it names without copying it: a few bytes of
    anchors can stand for billions of values, which building the signature (and storing
    it as JSON) would expand."""

    def __init__(self) -> None:
        Composer.__init__(self)  # not super(): that is SafeLoader's, wanting the stream
        self._depth = 0
        self._values = 0
        self._weight: dict[int, int] = {}  # values under each composed node, by id

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            node: yaml.Node = super().compose_node(parent, index)
            self._add(self._weight.get(id(node), 1))
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _too_deep()
        before = self._values
        node = super().compose_node(parent, index)
        self._add(1)
        self._weight[id(node)] = self._values - before
        self._depth -= 1
        return node

    def _add(self, values: int) -> None:
        self._values += values
        if self._values > MAX_VALUES:
            raise SignatureError(
                f"the signature holds more than {MAX_VALUES} values once its YAML aliases "
                "are expanded"
            )


try:
    from yaml.cyaml import CParser

    class _BoundedLoader(_Bounds, CParser, SafeConstructor, Resolver):
        """The safe loader with libyaml's parser: the pure Python one took 11 s for 1 MB."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _Bounds.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

except ImportError:  # a PyYAML built without libyaml

    class _BoundedLoader(_Bounds, yaml.SafeLoader):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            yaml.SafeLoader.__init__(self, stream)
            _Bounds.__init__(self)
