#!/usr/bin/env python3
"""Verifies a Nexus webhook the way an app would, with nothing from Nexus:

- `v1` (HMAC-SHA256 with the endpoint's `whsec_` secret) with the `standardwebhooks` package;
- `v1a` (Ed25519) with the `cryptography` package against the platform's JWKS.

- that the delivery is addressed to this app (`recipient.namespace`): anyone can check a `v1a`
  signature, so it proves the platform sent the body, not that it was sent to you.

usage: verify_webhook.py JWKS_URL SECRET NAMESPACE < delivery.json
where delivery.json is {"headers": {"webhook-id": …, …}, "body": "<the raw body>"}.
Prints `verified: v1 v1a <type>` and exits 0, or exits 1 naming what failed.
pip install standardwebhooks cryptography
"""
import base64
import json
import sys
import urllib.request

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks.webhooks import Webhook


def b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def main():
    jwks_url, secret, namespace = sys.argv[1], sys.argv[2], sys.argv[3]
    delivery = json.load(sys.stdin)
    headers, body = delivery["headers"], delivery["body"]

    payload = Webhook(secret).verify(body, headers)
    if payload["recipient"]["namespace"] != namespace:
        print(f'addressed to {payload["recipient"]}, not to {namespace}', file=sys.stderr)
        return 1

    content = f'{headers["webhook-id"]}.{headers["webhook-timestamp"]}.{body}'.encode()
    keys = json.load(urllib.request.urlopen(jwks_url))["keys"]
    signatures = [
        base64.b64decode(part.split(",", 1)[1])
        for part in headers["webhook-signature"].split(" ")
        if part.startswith("v1a,")
    ]
    for key in keys:
        public = Ed25519PublicKey.from_public_bytes(b64url(key["x"]))
        for signature in signatures:
            try:
                public.verify(signature, content)
                print(f'verified: v1 v1a {payload["type"]}')
                return 0
            except Exception:
                pass
    print("no v1a signature verifies with the JWKS", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
