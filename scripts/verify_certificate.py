#!/usr/bin/env python3
"""Verify a Nexus license certificate offline with a plain Ed25519 implementation (the
`cryptography` package), following docs/license-certificates.md step by step — no JWT library.

    pip install cryptography
    python3 scripts/verify_certificate.py JWKS_FILE_OR_URL ISSUER NAMESPACE FINGERPRINT CERTIFICATE

Prints the license and exits 0 when the certificate is good; prints why and exits 1 otherwise.
"""
import base64
import json
import sys
import time
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fail(why):
    print(f"invalid: {why}")
    sys.exit(1)


def main():
    jwks_source, issuer, namespace, fingerprint, certificate = sys.argv[1:6]
    if jwks_source.startswith("http"):
        jwks = json.load(urllib.request.urlopen(jwks_source))
    else:
        with open(jwks_source) as f:
            jwks = json.load(f)

    # 1. Three base64url parts: header, payload, signature.
    parts = certificate.split(".")
    if len(parts) != 3:
        fail("not three dot-separated parts")
    header = json.loads(b64url(parts[0]))
    payload = json.loads(b64url(parts[1]))
    signature = b64url(parts[2])

    # 2. The header names the algorithm, the type and the key.
    if header.get("alg") != "EdDSA" or header.get("typ") != "nexus-license+jwt":
        fail(f"unexpected header {header}")
    key = next((k for k in jwks["keys"] if k.get("kid") == header.get("kid")), None)
    if key is None or key.get("kty") != "OKP" or key.get("crv") != "Ed25519":
        fail("signed by a key that is not in the JWKS")

    # 3. Ed25519 over the ASCII bytes of `header.payload`, as they appear in the certificate.
    public = Ed25519PublicKey.from_public_bytes(b64url(key["x"]))
    try:
        public.verify(signature, f"{parts[0]}.{parts[1]}".encode("ascii"))
    except InvalidSignature:
        fail("bad signature: the certificate was altered or not signed by Nexus")

    # 4. The claims: this platform, this app, this machine, not expired.
    if payload["iss"] != issuer:
        fail(f"issued by {payload['iss']}, not {issuer}")
    if payload["aud"] != namespace or payload["app_namespace"] != namespace:
        fail(f"for app {payload['aud']}, not {namespace}")
    if payload["fingerprint"] != fingerprint:
        fail("for another machine")
    if payload["exp"] <= time.time():
        fail("expired")
    print(
        f"valid: license={payload['license_id']} kind={payload['kind']} "
        f"entitlements={','.join(payload['entitlements'])} until={payload['exp']}"
    )


main()
