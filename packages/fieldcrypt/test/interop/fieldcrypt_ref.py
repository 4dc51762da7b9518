#!/usr/bin/env python3
"""An independent reference implementation of the fieldcrypt cell format v1, for interop tests.

Written from the format description, not from the TypeScript code, with only the `cryptography`
package (AES-ECB, AES-GCM, HKDF-SHA256) and the standard library. Deliberately small and plain:
it favours obviousness over speed.

Format summary
--------------
Binary cell:  0xFC | version=1 | alg | type | kid_len | kid | nonce | ciphertext | tag(16)
              alg 1 = XAES-256-GCM (24-byte nonce), alg 2 = AES-256-GCM (12-byte nonce)
              type 1 string, 2 bytes, 3 json, 4 number, 5 bigint, 6 boolean, 7 date
              kid: 1-32 bytes of A-Z a-z 0-9 . _ -
Text cell:    "fc1." + base64url(binary cell), unpadded and canonical.
Key string:   "FIELDCRYPT-SECRET-KEY-1-" + base64url(32 key bytes), unpadded and canonical.

Field subkey: HKDF-SHA256(IKM = key, salt = empty,
                          info = "fieldcrypt-v1-field-key" | u8(alg) | LP(table) | LP(column), L = 32)
AAD:          header (every byte up to the nonce) | LP(scope) | LP(table) | LP(column)
              | u8(n) | LP(part_1) | ... | LP(part_n)
              LP(x) = u32 big-endian byte length of UTF-8(x) | UTF-8(x); absent scope = "";
              no row key = zero parts; integer row-key parts are written as decimal strings.
Payload:      string UTF-8 | bytes raw | json UTF-8 JSON text | number IEEE-754 f64 big-endian
              | bigint canonical decimal ASCII | boolean one byte 0/1 | date i64 big-endian ms since epoch

XAES-256-GCM (https://c2sp.org/XAES-256-GCM), for key K and 24-byte nonce N:
  L  = AES_K(0^128);  K1 = L << 1, xor 0x87 into the last byte if the MSB of L was set
  Kx = AES_K([0,1,'X',0] | N[:12] xor K1) | AES_K([0,2,'X',0] | N[:12] xor K1)
  ciphertext | tag = AES-256-GCM(key = Kx, nonce = N[12:24])

Usage
-----
  fieldcrypt_ref.py serve      one JSON request per stdin line -> one JSON response per stdout line
  fieldcrypt_ref.py selftest   checks the C2SP XAES-256-GCM test vectors, exits 0 on success

Requests (see handle_request):
  {"op": "encrypt", "keys": {"v1": "FIELDCRYPT-SECRET-KEY-1-..."}, "primary": "v1",
   "context": {"scope": "t1", "table": "notes", "column": "body", "rowKey": ["a", 7, {"int": "9"}]},
   "algorithm": "XAES-256-GCM", "form": "text" | "binary", "value": <typed value>}
      -> {"ok": true, "cell": "fc1...." | {"hex": "fc01..."}}
  {"op": "decrypt", "keys": {...}, "context": {...}, "cell": "fc1...." | {"hex": "fc01..."}}
      -> {"ok": true, "value": <typed value>}
  {"op": "selftest"} -> {"ok": true, "vectors": 2}
  Failures: {"ok": false, "error": "decryption failed" | "invalid cell" | "key not found"
             | "invalid context" | "invalid key" | "unsupported value" | "bad request", "detail": "..."}
  Any "id" member of a request is echoed in its response.

Typed values in JSON:
  {"type": "string", "value": "..."}        {"type": "bytes", "b64": "<standard base64>"}
  {"type": "json", "value": <any JSON>}     {"type": "number", "hex": "<16 hex digits, f64 BE>"}
  {"type": "bigint", "value": "-123"}       {"type": "boolean", "value": true}
  {"type": "date", "ms": -86400000}
  (encrypt also accepts {"type": "number", "value": 1.5}; responses always carry "hex".)
Row-key parts in JSON: a string (a string part), a JSON integer, or {"int": "<decimal>"}.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import struct
import sys
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# --------------------------------------------------------------------------------------------
# Constants of the format

MAGIC = 0xFC
VERSION = 1
TEXT_PREFIX = "fc1."
KEY_PREFIX = "FIELDCRYPT-SECRET-KEY-1-"
TAG_LEN = 16

# name -> (id, nonce length)
ALGORITHMS = {"XAES-256-GCM": (1, 24), "AES-256-GCM": (2, 12)}
ALGORITHM_BY_ID = {alg_id: (name, nonce_len) for name, (alg_id, nonce_len) in ALGORITHMS.items()}

TYPE_IDS = {"string": 1, "bytes": 2, "json": 3, "number": 4, "bigint": 5, "boolean": 6, "date": 7}
TYPE_NAMES = {type_id: name for name, type_id in TYPE_IDS.items()}

KEY_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,32}")
BIGINT_RE = re.compile(r"-?(0|[1-9][0-9]*)")
MAX_CONTEXT_BYTES = 1024
MAX_ROW_KEY_PARTS = 16
MAX_DATE_MS = 8_640_000_000_000_000  # the range of a JavaScript Date


class FieldcryptRefError(Exception):
    kind = "error"


class DecryptionFailed(FieldcryptRefError):
    kind = "decryption failed"


class InvalidCell(FieldcryptRefError):
    kind = "invalid cell"


class KeyNotFound(FieldcryptRefError):
    kind = "key not found"


class InvalidContext(FieldcryptRefError):
    kind = "invalid context"


class InvalidKey(FieldcryptRefError):
    kind = "invalid key"


class UnsupportedValue(FieldcryptRefError):
    kind = "unsupported value"


class BadRequest(FieldcryptRefError):
    kind = "bad request"


# --------------------------------------------------------------------------------------------
# Strict unpadded base64url: exactly one spelling per byte string


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_decode_strict(text: str) -> bytes | None:
    """Decodes unpadded base64url; None unless `text` is the canonical encoding of its bytes."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        return None
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # Non-zero unused trailing bits would give a second spelling of the same bytes.
    return data if b64url_encode(data) == text else None


# --------------------------------------------------------------------------------------------
# Keys, subkeys and the two AEADs


def parse_key_string(text: str) -> bytes:
    if not isinstance(text, str) or not text.startswith(KEY_PREFIX):
        raise InvalidKey(f"key string must start with {KEY_PREFIX}")
    body = text[len(KEY_PREFIX) :]
    key = b64url_decode_strict(body) if len(body) == 43 else None
    if key is None or len(key) != 32:
        raise InvalidKey("key string must carry 43 canonical base64url characters (32 bytes)")
    return key


def lp(data: bytes) -> bytes:
    """Length-prefixed: u32 big-endian length, then the bytes."""
    return struct.pack(">I", len(data)) + data


def field_subkey(key: bytes, alg_id: int, table: bytes, column: bytes) -> bytes:
    info = b"fieldcrypt-v1-field-key" + bytes([alg_id]) + lp(table) + lp(column)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


def aes_block(key: bytes, block: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def xaes_key_and_nonce(key: bytes, nonce: bytes) -> tuple[bytes, bytes]:
    """The AES-256-GCM key and 12-byte nonce XAES-256-GCM uses for a 24-byte nonce."""
    assert len(key) == 32 and len(nonce) == 24
    l_block = int.from_bytes(aes_block(key, bytes(16)), "big")
    k1 = (l_block << 1) & ((1 << 128) - 1)
    if l_block >> 127:
        k1 ^= 0x87
    # CMAC of a single full block M under K is AES_K(M xor K1).
    halves = []
    for counter in (1, 2):
        message = bytes([0, counter, ord("X"), 0]) + nonce[:12]
        halves.append(aes_block(key, (int.from_bytes(message, "big") ^ k1).to_bytes(16, "big")))
    return halves[0] + halves[1], nonce[12:]


def aead_seal(alg_id: int, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    if alg_id == 1:
        key, nonce = xaes_key_and_nonce(key, nonce)
    return AESGCM(key).encrypt(nonce, plaintext, aad)


def aead_open(alg_id: int, key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    if alg_id == 1:
        key, nonce = xaes_key_and_nonce(key, nonce)
    try:
        return AESGCM(key).decrypt(nonce, sealed, aad)
    except InvalidTag:
        raise DecryptionFailed("decryption failed") from None


# --------------------------------------------------------------------------------------------
# Context and associated data


def context_string(value: Any, name: str) -> bytes:
    if not isinstance(value, str) or value == "":
        raise InvalidContext(f"context.{name} must be a non-empty string")
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidContext(f"context.{name} is not valid Unicode") from None
    if len(data) > MAX_CONTEXT_BYTES:
        raise InvalidContext(f"context.{name} must be at most {MAX_CONTEXT_BYTES} UTF-8 bytes")
    return data


def row_key_part(part: Any, index: int) -> bytes:
    if isinstance(part, dict) and set(part) == {"int"}:
        part = part["int"]
        if not isinstance(part, str) or not BIGINT_RE.fullmatch(part):
            raise InvalidContext(f"context.rowKey[{index}].int must be a decimal integer string")
        part = int(part)
    if isinstance(part, bool):
        raise InvalidContext(f"context.rowKey[{index}] must be a string or an integer")
    if isinstance(part, int):
        return str(part).encode("ascii")
    return context_string(part, f"rowKey[{index}]")


def associated_data(header: bytes, context: dict[str, Any]) -> bytes:
    if not isinstance(context, dict):
        raise InvalidContext("context must be an object")
    scope = context.get("scope")
    out = lp(b"" if scope is None else context_string(scope, "scope"))
    out += lp(context_string(context.get("table"), "table"))
    out += lp(context_string(context.get("column"), "column"))
    row_key = context.get("rowKey")
    if row_key is None:
        parts: list[Any] = []
    else:
        parts = row_key if isinstance(row_key, list) else [row_key]
        if not 1 <= len(parts) <= MAX_ROW_KEY_PARTS:
            raise InvalidContext(f"context.rowKey must have 1-{MAX_ROW_KEY_PARTS} parts")
    out += bytes([len(parts)])
    for index, part in enumerate(parts):
        out += lp(row_key_part(part, index))
    return header + out


# --------------------------------------------------------------------------------------------
# Typed payloads. A value is a (type name, Python value) pair:
#   string -> str, bytes -> bytes, json -> parsed JSON, number -> float, bigint -> int,
#   boolean -> bool, date -> int milliseconds since the Unix epoch


def encode_payload(type_name: str, value: Any) -> bytes:
    if type_name == "string" and isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError:
            raise UnsupportedValue("string is not valid Unicode (lone surrogate)") from None
    if type_name == "bytes" and isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if type_name == "json":
        try:
            text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError):
            raise UnsupportedValue("value has no JSON form") from None
        return text.encode("utf-8")
    if type_name == "number" and isinstance(value, float):
        return struct.pack(">d", value)
    if type_name == "bigint" and isinstance(value, int) and not isinstance(value, bool):
        return str(value).encode("ascii")
    if type_name == "boolean" and isinstance(value, bool):
        return b"\x01" if value else b"\x00"
    if type_name == "date" and isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_DATE_MS:
            raise UnsupportedValue("date is outside the range of a JavaScript Date")
        return struct.pack(">q", value)
    raise UnsupportedValue(f"cannot encode a {type(value).__name__} as {type_name}")


def decode_payload(type_id: int, payload: bytes) -> tuple[str, Any]:
    name = TYPE_NAMES[type_id]
    try:
        if name == "string":
            return name, payload.decode("utf-8")
        if name == "bytes":
            return name, payload
        if name == "json":
            return name, json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidCell(f"{name} payload is not valid UTF-8 / JSON") from None
    if name == "number":
        if len(payload) != 8:
            raise InvalidCell("number payload must be 8 bytes")
        return name, struct.unpack(">d", payload)[0]
    if name == "bigint":
        text = payload.decode("latin-1")
        if not BIGINT_RE.fullmatch(text) or text == "-0":
            raise InvalidCell("bigint payload is not a canonical decimal integer")
        return name, int(text)
    if name == "boolean":
        if payload not in (b"\x00", b"\x01"):
            raise InvalidCell("boolean payload must be one byte 0 or 1")
        return name, payload == b"\x01"
    if len(payload) != 8:
        raise InvalidCell("date payload must be 8 bytes")
    ms = struct.unpack(">q", payload)[0]
    if abs(ms) > MAX_DATE_MS:
        raise InvalidCell("date payload is outside the range of a JavaScript Date")
    return name, ms


# --------------------------------------------------------------------------------------------
# Cells


def encrypt_cell(
    key_id: str,
    key: bytes,
    type_name: str,
    value: Any,
    context: dict[str, Any],
    algorithm: str = "XAES-256-GCM",
    form: str = "text",
) -> str | bytes:
    if not isinstance(key_id, str) or not KEY_ID_RE.fullmatch(key_id):
        raise InvalidKey("key id must be 1-32 characters of A-Z a-z 0-9 . _ -")
    if algorithm not in ALGORITHMS:
        raise BadRequest("algorithm must be XAES-256-GCM or AES-256-GCM")
    if type_name not in TYPE_IDS:
        raise UnsupportedValue(f"unknown value type {type_name!r}")
    alg_id, nonce_len = ALGORITHMS[algorithm]
    header = bytes([MAGIC, VERSION, alg_id, TYPE_IDS[type_name], len(key_id)]) + key_id.encode("ascii")
    aad = associated_data(header, context)  # validates the context too
    plaintext = encode_payload(type_name, value)
    subkey = field_subkey(key, alg_id, context["table"].encode(), context["column"].encode())
    nonce = os.urandom(nonce_len)
    cell = header + nonce + aead_seal(alg_id, subkey, nonce, plaintext, aad)
    return TEXT_PREFIX + b64url_encode(cell) if form == "text" else cell


def cell_to_bytes(cell: str | bytes) -> bytes:
    if isinstance(cell, bytes):
        return cell
    if not cell.startswith(TEXT_PREFIX):
        raise InvalidCell("text cell must start with fc1.")
    data = b64url_decode_strict(cell[len(TEXT_PREFIX) :])
    if data is None:
        raise InvalidCell("text cell is not canonical unpadded base64url")
    return data


def decrypt_cell(keys: dict[str, bytes], cell: str | bytes, context: dict[str, Any]) -> tuple[str, Any]:
    data = cell_to_bytes(cell)
    if len(data) < 6 or data[0] != MAGIC:
        raise InvalidCell("not a fieldcrypt cell")
    if data[1] != VERSION:
        raise InvalidCell(f"unsupported version {data[1]}")
    if data[2] not in ALGORITHM_BY_ID:
        raise InvalidCell(f"unknown algorithm id {data[2]}")
    type_id = data[3]
    if type_id not in TYPE_NAMES:
        raise InvalidCell(f"unknown type id {type_id}")
    kid_len = data[4]
    key_id = data[5 : 5 + kid_len].decode("latin-1")
    if not 1 <= kid_len <= 32 or not KEY_ID_RE.fullmatch(key_id):
        raise InvalidCell("malformed key id")
    _, nonce_len = ALGORITHM_BY_ID[data[2]]
    header_end = 5 + kid_len
    nonce_end = header_end + nonce_len
    if len(data) < nonce_end + TAG_LEN:
        raise InvalidCell("cell is truncated")
    if key_id not in keys:
        raise KeyNotFound(f"key {key_id!r} is not in the keyring")

    aad = associated_data(data[:header_end], context)  # validates the context too
    subkey = field_subkey(keys[key_id], data[2], context["table"].encode(), context["column"].encode())
    plaintext = aead_open(data[2], subkey, data[header_end:nonce_end], data[nonce_end:], aad)
    return decode_payload(type_id, plaintext)


# --------------------------------------------------------------------------------------------
# The JSON protocol


def value_from_json(obj: Any) -> tuple[str, Any]:
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise BadRequest("value must be an object with a type")
    type_name = obj["type"]
    if type_name == "bytes":
        return type_name, base64.b64decode(obj["b64"], validate=True)
    if type_name == "number":
        if "hex" in obj:
            return type_name, struct.unpack(">d", bytes.fromhex(obj["hex"]))[0]
        return type_name, float(obj["value"])
    if type_name == "bigint":
        return type_name, int(obj["value"])
    if type_name == "date":
        return type_name, int(obj["ms"])
    return type_name, obj.get("value")


def value_to_json(type_name: str, value: Any) -> dict[str, Any]:
    if type_name == "bytes":
        return {"type": type_name, "b64": base64.b64encode(value).decode("ascii")}
    if type_name == "number":
        return {"type": type_name, "hex": struct.pack(">d", value).hex(), "repr": repr(value)}
    if type_name == "bigint":
        return {"type": type_name, "value": str(value)}
    if type_name == "date":
        return {"type": type_name, "ms": value}
    return {"type": type_name, "value": value}


def cell_from_json(obj: Any) -> str | bytes:
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict) and isinstance(obj.get("hex"), str):
        return bytes.fromhex(obj["hex"])
    raise BadRequest("cell must be a string or {hex}")


def keyring_from_json(obj: Any) -> dict[str, bytes]:
    if not isinstance(obj, dict):
        raise BadRequest("keys must be an object {id: key string}")
    return {key_id: parse_key_string(text) for key_id, text in obj.items()}


def handle_request(request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "selftest":
        return {"ok": True, "vectors": run_selftest()}
    if op not in ("encrypt", "decrypt"):
        raise BadRequest(f"unknown op {op!r}")
    keys = keyring_from_json(request.get("keys"))
    context = request.get("context")
    if op == "encrypt":
        key_id = request.get("primary")
        if key_id not in keys:
            raise KeyNotFound("primary key is not in the keyring")
        type_name, value = value_from_json(request.get("value"))
        algorithm = request.get("algorithm", "XAES-256-GCM")
        form = request.get("form", "text")
        cell = encrypt_cell(key_id, keys[key_id], type_name, value, context, algorithm, form)
        return {"ok": True, "cell": cell if isinstance(cell, str) else {"hex": cell.hex()}}
    type_name, value = decrypt_cell(keys, cell_from_json(request.get("cell")), context)
    return {"ok": True, "value": value_to_json(type_name, value)}


def serve() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        request: Any = None
        try:
            request = json.loads(line)
            response = handle_request(request)
        except FieldcryptRefError as error:
            response = {"ok": False, "error": error.kind, "detail": str(error)}
        except (KeyError, TypeError, ValueError, binascii.Error) as error:
            response = {"ok": False, "error": "bad request", "detail": f"{type(error).__name__}: {error}"}
        except (AssertionError, OSError) as error:
            response = {"ok": False, "error": "selftest failed", "detail": f"{type(error).__name__}: {error}"}
        if isinstance(request, dict) and "id" in request:
            response["id"] = request["id"]
        sys.stdout.write(json.dumps(response, ensure_ascii=False, allow_nan=False) + "\n")
        sys.stdout.flush()


# --------------------------------------------------------------------------------------------
# Self-test against the C2SP vectors

def vectors_file() -> Path:
    """$XAES_VECTORS, else the first of the known places of xaes_256_gcm.json that exists."""
    if "XAES_VECTORS" in os.environ:
        return Path(os.environ["XAES_VECTORS"])
    repo = Path(__file__).resolve().parents[4]
    candidates = [
        repo / "spec" / "vectors" / "c2sp" / "xaes_256_gcm.json",
        repo.parent / "shared" / "vectors" / "c2sp" / "xaes_256_gcm.json",
    ]
    return next((path for path in candidates if path.is_file()), candidates[-1])


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def run_selftest() -> int:
    vectors = json.loads(vectors_file().read_text())["tests"]
    for vector in vectors:
        where = f"C2SP XAES-256-GCM vector tcId {vector['tcId']}"
        key, nonce, plaintext, aad, sealed = (
            bytes.fromhex(vector[name]) for name in ("key", "nonce", "plaintext", "aad", "ct_and_tag")
        )
        derived_key, derived_nonce = xaes_key_and_nonce(key, nonce)
        check(derived_key.hex() == vector["intermediate"]["derived_key"], f"{where}: derived key")
        check(derived_nonce.hex() == vector["intermediate"]["derived_nonce"], f"{where}: derived nonce")
        check(aead_seal(1, key, nonce, plaintext, aad) == sealed, f"{where}: seal")
        check(aead_open(1, key, nonce, sealed, aad) == plaintext, f"{where}: open")
        try:
            aead_open(1, key, nonce, sealed[:-1] + bytes([sealed[-1] ^ 1]), aad)
            check(False, f"{where}: a tampered tag was accepted")
        except DecryptionFailed:
            pass
    check(len(vectors) >= 2, "expected at least the two C2SP vectors")
    return len(vectors)


def main(argv: list[str]) -> int:
    if argv[1:] == ["serve"]:
        serve()
        return 0
    if argv[1:] == ["selftest"]:
        count = run_selftest()
        print(f"ok: {count} C2SP XAES-256-GCM vectors")
        return 0
    print(__doc__.split("Usage\n-----\n")[1].split("\n\n")[0], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
