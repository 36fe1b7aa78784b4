"""Webhook deliveries as Standard Webhooks sends them, on the ``standardwebhooks`` package: ``v1``
(HMAC-SHA256 with a ``whsec_`` secret; several during a rotation) and ``v1a`` (Ed25519 by the
platform's keys)."""

import base64
import hmac
import time
from datetime import datetime, timezone

from cryptography.exceptions import InvalidSignature
from standardwebhooks.webhooks import Webhook as StandardWebhook

from .context import keys_of

TOLERANCE_SECONDS = 5 * 60


class WebhookRejected(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class Webhook:
    def __init__(self, secrets: list[str], platform_jwks: dict | None = None):
        self._signers = [StandardWebhook(s) for s in secrets]
        self._keys = list(keys_of(platform_jwks).values()) if platform_jwks else []

    def verify(self, headers: dict, body: bytes | str) -> None:
        """Verifies a delivery now, from its headers (any case) and raw body."""
        lower = {k.lower(): v for k, v in headers.items()}
        self.verify_at(
            lower.get("webhook-id", ""),
            lower.get("webhook-timestamp", ""),
            lower.get("webhook-signature", ""),
            body,
            int(time.time()),
        )

    def verify_at(self, id: str, timestamp: str, signatures: str, body: bytes | str, now: int) -> None:
        try:
            sent = int(timestamp.strip())
        except (ValueError, AttributeError):
            raise WebhookRejected("malformed") from None
        if not id:
            raise WebhookRejected("malformed")
        if sent < now - TOLERANCE_SECONDS:
            raise WebhookRejected("timestamp_too_old")
        if sent > now + TOLERANCE_SECONDS:
            raise WebhookRejected("timestamp_too_new")
        text = body.decode() if isinstance(body, bytes) else body
        when = datetime.fromtimestamp(sent, tz=timezone.utc)
        expected = {s.sign(id, when, text) for s in self._signers}
        content = f"{id}.{sent}.{text}".encode()
        for signature in signatures.split():
            version, _, value = signature.partition(",")
            if version == "v1" and any(hmac.compare_digest(signature, e) for e in expected):
                return
            if version == "v1a":
                try:
                    raw = base64.b64decode(value, validate=True)
                except ValueError:
                    continue
                for key in self._keys:
                    try:
                        key.verify(raw, content)
                        return
                    except InvalidSignature:
                        continue
        raise WebhookRejected("bad_signature")
