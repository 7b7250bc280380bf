"""PHP's `serialize()` for the few types WHMCS custom fields need, and the base64 wrappers.

WHMCS (and Keliweb's API over it) takes `customfields` as base64 of a serialized PHP
array `{field id: value}`, and `attachments` as base64 of JSON `[{"name", "data"}]`
with each file's bytes base64 again.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence

PhpKey = int | str
PhpValue = int | str | bool


def serialize(value: Mapping[PhpKey, PhpValue] | PhpValue) -> str:
    """`serialize()` of an array of int/str keys and int/str/bool values, or of one scalar.

    String lengths count UTF-8 bytes, as PHP's do; a key that is a decimal integer in
    canonical form becomes an int key, as PHP turns `"1"` into `1` in array keys."""
    if isinstance(value, Mapping):
        items = "".join(_key(key) + _scalar(item) for key, item in value.items())
        return f"a:{len(value)}:{{{items}}}"
    return _scalar(value)


def _key(key: PhpKey) -> str:
    if isinstance(key, str) and _is_canonical_int(key):
        key = int(key)
    return _scalar(key)


def _is_canonical_int(text: str) -> bool:
    digits = text[1:] if text.startswith("-") else text
    return digits.isdigit() and digits.isascii() and (digits == "0" or not digits.startswith("0"))


def _scalar(value: PhpValue) -> str:
    if isinstance(value, bool):  # before int: bool is an int in Python
        return f"b:{int(value)};"
    if isinstance(value, int):
        return f"i:{value};"
    if isinstance(value, str):
        return f's:{len(value.encode("utf-8"))}:"{value}";'
    raise TypeError(f"cannot serialize {type(value).__name__}")


def encode_custom_fields(fields: Mapping[PhpKey, PhpValue]) -> str:
    """The `customfields` parameter: base64 of the serialized array."""
    return base64.b64encode(serialize(fields).encode("utf-8")).decode("ascii")


def encode_attachments(files: Sequence[tuple[str, bytes]]) -> str:
    """The `attachments` parameter: base64 of JSON `[{"name", "data": base64}]`."""
    rows = [
        {"name": name, "data": base64.b64encode(content).decode("ascii")} for name, content in files
    ]
    # Compact, as PHP's json_encode writes it (it also escapes "/", which JSON allows either way).
    compact = json.dumps(rows, separators=(",", ":")).replace("/", "\\/")
    return base64.b64encode(compact.encode("utf-8")).decode("ascii")
