#!/usr/bin/env python3
"""Verify a Nexus token with PyJWT, using only the published JWKS.

    pip install pyjwt cryptography
    python3 scripts/verify_token.py http://127.0.0.1:4000/.well-known/jwks.json http://127.0.0.1:4000 "$TOKEN"
"""
import sys

import jwt

jwks_url, issuer, token = sys.argv[1], sys.argv[2], sys.argv[3]
key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token)
claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience="nexus", issuer=issuer)
print(f"verified: sub={claims['sub']} org={claims.get('org')} role={claims.get('role')} exp={claims['exp']}")
