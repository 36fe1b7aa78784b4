"""What a Nexus app needs to trust the platform: context tokens, webhooks, installation tokens.

Every verdict is pinned by ``sdk/test-vectors/``, which the Rust and Node SDKs run too.
"""

from .context import ContextClaims, ContextVerifier, Rejected, verify_at
from .installation import Graph, InstallationTokens, TokenRefused
from .webhook import Webhook, WebhookRejected

__all__ = [
    "ContextClaims",
    "ContextVerifier",
    "Rejected",
    "verify_at",
    "Graph",
    "InstallationTokens",
    "TokenRefused",
    "Webhook",
    "WebhookRejected",
]
