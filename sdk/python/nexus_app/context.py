"""The context token the router sends with every call to an app, verified with PyJWT."""

import base64
import json
import time
from dataclasses import dataclass, field

import jwt

LEEWAY_SECONDS = 10


class Rejected(Exception):
    """A refused token; ``code`` is the verdict every Nexus SDK gives for it."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(message or code)
        self.code = code


@dataclass
class ContextClaims:
    sub: str
    iss: str
    aud: str
    exp: int
    iat: int
    org: str | None = None
    role: str | None = None
    inst: str | None = None
    scopes: list[str] = field(default_factory=list)

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def _header(token: str) -> dict:
    parts = token.split(".")
    if len(parts) != 3:
        raise Rejected("malformed")
    try:
        padded = parts[0] + "=" * (-len(parts[0]) % 4)
        header = json.loads(base64.urlsafe_b64decode(padded))
    except Exception:
        raise Rejected("malformed") from None
    if not isinstance(header, dict):
        raise Rejected("malformed")
    return header


def verify_at(keys: dict, token: str, issuer: str, audience: str, now: int) -> ContextClaims:
    """Verifies ``token`` with ``keys`` (kid -> public key) as of ``now``. Checks, in order:
    shape, algorithm, key, signature, type, issuer, audience, expiry, not-before."""
    header = _header(token)
    if header.get("alg") != "EdDSA":
        raise Rejected("bad_algorithm")
    key = keys.get(header.get("kid"))
    if key is None:
        raise Rejected("unknown_key")
    try:
        claims = jwt.decode(
            token,
            key=key,
            algorithms=["EdDSA"],
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except jwt.InvalidSignatureError:
        raise Rejected("bad_signature") from None
    except jwt.InvalidAlgorithmError:
        raise Rejected("bad_algorithm") from None
    except jwt.PyJWTError:
        raise Rejected("malformed") from None
    if claims.get("typ") != "context":
        raise Rejected("wrong_type")
    if claims.get("iss") != issuer:
        raise Rejected("wrong_issuer")
    if claims.get("aud") != audience:
        raise Rejected("wrong_audience")
    exp = claims.get("exp")
    if not isinstance(exp, int):
        raise Rejected("malformed")
    if exp + LEEWAY_SECONDS < now:
        raise Rejected("expired")
    for name in ("nbf", "iat"):
        value = claims.get(name)
        if isinstance(value, int) and value > now + LEEWAY_SECONDS:
            raise Rejected("not_yet_valid")
    return ContextClaims(
        sub=claims.get("sub", ""),
        iss=claims["iss"],
        aud=claims["aud"],
        exp=exp,
        iat=claims.get("iat", 0),
        org=claims.get("org"),
        role=claims.get("role"),
        inst=claims.get("inst"),
        scopes=list(claims.get("scopes", [])),
    )


def keys_of(jwks: dict) -> dict:
    """The Ed25519 keys of a JWKS document, by kid."""
    keys = {}
    for jwk in jwks.get("keys", []):
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519" and jwk.get("kid"):
            keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm="EdDSA").key
    return keys


class ContextVerifier:
    """Verifies context tokens for the app ``namespace`` on the platform ``issuer`` (e.g.
    ``http://127.0.0.1:4000``); its keys are fetched from ``{issuer}/.well-known/jwks.json`` and
    cached, and refetched when a token names a key not seen yet."""

    def __init__(self, issuer: str, namespace: str, jwks_url: str | None = None):
        self.issuer = issuer.rstrip("/")
        self.namespace = namespace
        self._client = jwt.PyJWKClient(
            jwks_url or f"{self.issuer}/.well-known/jwks.json", cache_keys=True
        )

    def verify(self, token: str) -> ContextClaims:
        token = token.removeprefix("Bearer ").strip()
        header = _header(token)
        if header.get("alg") != "EdDSA":
            raise Rejected("bad_algorithm")
        kid = header.get("kid")
        try:
            key = self._client.get_signing_key(kid).key if kid else None
        except jwt.PyJWKClientConnectionError as e:
            raise Rejected("keys_unavailable", str(e)) from None
        except jwt.PyJWKClientError:
            key = None
        return verify_at({kid: key} if key else {}, token, self.issuer, self.namespace, int(time.time()))
