#!/usr/bin/env python3
"""Produces legacy cells the way hand-rolled Python apps do, for fieldcrypt's legacy-import tests.

Only the `cryptography` package and the standard library; each recipe below is the code such apps
write (Fernet with a static key or a PBKDF2-derived per-user key, raw AES-GCM, versioned JSON).

Usage: legacy_producer.py < requests.json > responses.json
  stdin:  a JSON list of requests, stdout: a JSON list of responses in the same order.
"""
import base64
import json
import os
import sys

from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

HASHES = {"sha256": hashes.SHA256, "sha1": hashes.SHA1}


def derive_fernet_key(master_key, salt, iterations, hash_name):
    kdf = PBKDF2HMAC(algorithm=HASHES[hash_name](), length=32, salt=salt, iterations=iterations)
    return base64.urlsafe_b64encode(kdf.derive(master_key.encode()))


ENCODE = {
    "bytes": lambda b: b,
    "base64url": base64.urlsafe_b64encode,
    "base64": base64.b64encode,
    "hex": lambda b: b.hex().encode(),
}


def fernet_recipe(req):
    """A per-user Fernet key recipe, written the way the apps write it.

    master = SECRET.encode(), or for each step of req["chain"] (the innermost first):
             ENCODE[encoding](PBKDF2HMAC(hash, length, salt, iterations).derive(master))
    salt   = eval(req["salt"]) with the row's columns as variables, e.g.
             'f"user_{user_id}_salt".encode()' or 'str(user_id).zfill(8).encode()'
    key    = base64.urlsafe_b64encode(PBKDF2HMAC(hash, 32, salt, iterations).derive(master))
    token  = Fernet(key).encrypt(message), base64-encoded once more with req["double"] ("std"/"url")
    A row's "salt_hex" column is passed to the expression as bytes `salt`.
    """
    master = req["secret"].encode()
    for step in req.get("chain", []):
        kdf = PBKDF2HMAC(
            algorithm=HASHES[step["hash"]](),
            length=step.get("length", 32),
            salt=step["salt"].encode(),
            iterations=step["iterations"],
        )
        master = ENCODE[step.get("encoding", "bytes")](kdf.derive(master))
    fernets = {}
    tokens = []
    for row in req["rows"]:
        columns = {k: v for k, v in row.items() if k != "message"}
        if "salt_hex" in columns:
            columns["salt"] = bytes.fromhex(columns.pop("salt_hex"))
        salt = eval(req["salt"], {}, columns)  # the app's own salt line
        if salt not in fernets:
            kdf = PBKDF2HMAC(algorithm=HASHES[req["hash"]](), length=32, salt=salt, iterations=req["iterations"])
            fernets[salt] = Fernet(base64.urlsafe_b64encode(kdf.derive(master)))
        token = fernets[salt].encrypt(row["message"].encode())
        if req.get("double") == "std":
            token = base64.b64encode(token)
        elif req.get("double") == "url":
            token = base64.urlsafe_b64encode(token)
        tokens.append(token.decode())
    return tokens


def handle(req):
    op = req["op"]
    if op == "fernet_generate_key":
        return {"key": Fernet.generate_key().decode()}
    if op == "fernet":
        f = Fernet(req["key"].encode())
        return {"tokens": [f.encrypt(m.encode()).decode() for m in req["messages"]]}
    if op == "multifernet":
        # MultiFernet encrypts with the first key; older keys only decrypt.
        f = MultiFernet([Fernet(k.encode()) for k in req["keys"]])
        return {"tokens": [f.encrypt(m.encode()).decode() for m in req["messages"]]}
    if op == "fernet_double":
        f = Fernet(req["key"].encode())
        encode = base64.urlsafe_b64encode if req.get("alphabet") == "url" else base64.b64encode
        return {"tokens": [encode(f.encrypt(m.encode())).decode() for m in req["messages"]]}
    if op == "fernet_pbkdf2_static":
        # salt = STATIC_SALT + str(user_id).encode(), one key per user
        static = bytes.fromhex(req["static_salt_hex"])
        keys = {}
        tokens = []
        for row in req["rows"]:
            uid = row["user_id"]
            if uid not in keys:
                keys[uid] = Fernet(derive_fernet_key(req["master"], static + str(uid).encode(), req["iterations"], req["hash"]))
            tokens.append(keys[uid].encrypt(row["message"].encode()).decode())
        return {"tokens": tokens}
    if op == "fernet_pbkdf2_column":
        # a random 16-byte salt per user, stored in a `salt` column
        out = []
        for row in req["rows"]:
            salt = os.urandom(16)
            f = Fernet(derive_fernet_key(req["master"], salt, req["iterations"], req["hash"]))
            out.append({"salt_hex": salt.hex(), "token": f.encrypt(row["message"].encode()).decode()})
        return {"rows": out}
    if op == "fernet_recipe":
        return {"tokens": fernet_recipe(req)}
    if op == "aesgcm":
        key = bytes.fromhex(req["key_hex"])
        aad = req.get("aad")
        aad = aad.encode() if aad is not None else None
        cells = []
        for m in req["messages"]:
            nonce = os.urandom(12)
            sealed = AESGCM(key).encrypt(nonce, m.encode(), aad)  # ciphertext || tag
            if req.get("layout") == "nonce-tag-ct":
                sealed = sealed[-16:] + sealed[:-16]
            cell = nonce + sealed
            cells.append(base64.b64encode(cell).decode() if req.get("form") == "base64" else cell.hex())
        return {"cells": cells}
    if op == "versioned_json":
        key = bytes.fromhex(req["key_hex"])
        out = []
        for m in req["messages"]:
            nonce = os.urandom(12)
            ct = AESGCM(key).encrypt(nonce, m.encode(), None)
            out.append(json.dumps({"version": req["version"], "ciphertext": base64.b64encode(nonce + ct).decode()}))
        return {"cells": out}
    raise ValueError("unknown op " + op)


def main():
    requests = json.load(sys.stdin)
    json.dump([handle(r) for r in requests], sys.stdout)


if __name__ == "__main__":
    main()
