#!/usr/bin/env python3
"""Get an installation token from Nexus with authlib, an off-the-shelf OAuth 2.0 client: it reads
the token endpoint from the issuer's RFC 8414 metadata, then asks for `client_credentials` with the
client authenticated as METHOD (client_secret_basic or client_secret_post).

    pip install authlib requests
    python3 scripts/oauth_client_credentials.py http://127.0.0.1:4000 APP_ID nxs_… INSTALLATION_ID client_secret_basic

Prints the token response as JSON, or {"error": …} and exits 1.
"""
import json
import sys

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

issuer, client_id, secret, installation, method = sys.argv[1:6]
metadata = requests.get(f"{issuer}/.well-known/oauth-authorization-server", timeout=10).json()
assert metadata["issuer"] == issuer, metadata
assert method in metadata["token_endpoint_auth_methods_supported"], metadata
session = OAuth2Session(client_id, secret, token_endpoint_auth_method=method)
try:
    token = session.fetch_token(
        metadata["token_endpoint"],
        grant_type="client_credentials",
        installation_id=installation,
    )
except OAuthError as e:
    print(json.dumps({"error": e.error, "error_description": e.description}))
    sys.exit(1)
print(json.dumps(dict(token)))
