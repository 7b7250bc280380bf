"""Reading an HTTP request the way Django REST Framework does: the form (urlencoded,
multipart or JSON, also in a GET body), the files, and DRF's field error messages."""

from __future__ import annotations

import email.parser
import email.policy
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

MAX_ATTACHMENT_BYTES = 2 * 1024 * 1024

REQUIRED = "This field is required."
BLANK = "This field may not be blank."
NULL = "This field may not be null."
INCORRECT_TYPE = "Incorrect type. Expected pk value, received str."
TOO_BIG = "File is too big. Max filesize: 2MiB."
NOT_A_FILE = "The submitted data was not a file. Check the encoding type on the form."
EMPTY_FILE = "The submitted file is empty."

Form = dict[str, list[str]]
Errors = dict[str, list[str]]


@dataclass(frozen=True)
class Upload:
    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    form: Form = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def one(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[-1] if values else None


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def read_request(handler: BaseHTTPRequestHandler) -> Request:
    """The request `handler` is serving; `ValueError` when its body cannot be parsed."""
    url = urlsplit(handler.path)
    headers = {name.lower(): value for name, value in handler.headers.items()}
    body = _read_body(handler, headers)
    query = {name: values[-1] for name, values in parse_qs(url.query, True).items()}
    request = Request(handler.command, url.path, query, headers)
    if body:
        request.form, request.files = parse_body(headers.get("content-type", ""), body)
    return request


def _read_body(handler: BaseHTTPRequestHandler, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        while size := int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
        handler.rfile.readline()
        return b"".join(chunks)
    length = int(headers.get("content-length") or 0)
    return handler.rfile.read(length) if length else b""


def parse_body(content_type: str, body: bytes) -> tuple[Form, dict[str, Upload]]:
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        return _parse_multipart(content_type, body)
    if media_type == "application/json":
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("JSON body is not an object")
        form = {
            k: [str(i) for i in v] if isinstance(v, list) else [str(v)] for k, v in data.items()
        }
        return form, {}
    return parse_qs(body.decode("utf-8"), keep_blank_values=True), {}


def _parse_multipart(content_type: str, body: bytes) -> tuple[Form, dict[str, Upload]]:
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ValueError("multipart body without parts")
    form: Form = {}
    files: dict[str, Upload] = {}
    for part in message.iter_parts():
        name = str(part.get_param("name", header="content-disposition") or "")
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            form.setdefault(name, []).append(content.decode("utf-8"))
        elif filename or content:  # an empty file input of a browser form sends neither
            files[name] = Upload(filename, content, part.get_content_type())
    return form, files


# -- DRF-like field validation --------------------------------------------------


def text(request: Request, name: str, errors: Errors, max_length: int = 0) -> str:
    value = request.one(name)
    if value is None:
        errors[name] = [REQUIRED]
        return ""
    value = value.strip()  # DRF's CharField trims whitespace
    if not value:
        errors[name] = [BLANK]
    elif max_length and len(value) > max_length:
        errors[name] = [f"Ensure this field has no more than {max_length} characters."]
    return value


def choice(request: Request, name: str, choices: Iterable[str], errors: Errors) -> str:
    value = request.one(name)
    if value is None:
        errors[name] = [REQUIRED]
        return ""
    if value not in choices:
        errors[name] = [f'"{value}" is not a valid choice.']
    return value


def pk(request: Request, name: str, exists: Callable[[int], bool], errors: Errors) -> int | None:
    value = request.one(name)
    if value is None:
        errors[name] = [REQUIRED]
    elif not value.strip():
        errors[name] = [NULL]
    elif not value.strip().isdigit():
        errors[name] = [INCORRECT_TYPE]
    elif not exists(int(value)):
        errors[name] = [f'Invalid pk "{value}" - object does not exist.']
    else:
        return int(value)
    return None


def attachment(request: Request, errors: Errors) -> Upload | None:
    if "attachment" in request.form and "attachment" not in request.files:
        errors["attachment"] = [NOT_A_FILE]
        return None
    upload = request.files.get("attachment")
    if upload is None:
        return None
    if not upload.content:
        errors["attachment"] = [EMPTY_FILE]
    elif len(upload.content) > MAX_ATTACHMENT_BYTES:
        errors["attachment"] = [TOO_BIG]
    return upload
