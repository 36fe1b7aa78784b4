"""Sign in with Nexus, the way any app would: Python's authlib as the OAuth 2.1 / OpenID Connect
client (PKCE S256, nonce, state) and a real headless Chromium (Selenium) as the person, who logs
in and clicks Approve on the consent page.

    python3 scripts/oauth_sign_in.py ISSUER CLIENT_ID CLIENT_SECRET EMAIL PASSWORD [SCREENSHOT.png]

CLIENT_SECRET `-` makes it a public client (RFC 8252: a native app holds no secret; it
authenticates with `none`, names itself by client_id, and relies on PKCE and rotating refresh
tokens, whose reuse it checks ends the sign-in).

Reads the endpoints from the discovery document; the redirect URI is a loopback listener on a
port the system picks (RFC 8252 §7.3). Checks the id_token against the JWKS (signature, iss,
aud, exp, nonce, at_hash), reads userinfo, refreshes (rotation), revokes, and prints what it
learnt as JSON. Exits non-zero on any failure.
"""

import http.server
import json
import os
import sys
import threading

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

issuer, client_id, client_secret, email, password = sys.argv[1:6]
public = client_secret == "-"
if public:
    client_secret = None
screenshot = sys.argv[6] if len(sys.argv) > 6 else None

# The app's callback: records the URL the browser is sent back to.
callbacks = []


class Callback(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        callbacks.append(self.path)
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.end_headers()
        self.wfile.write(b"<!doctype html><title>Back at the app</title><p>signed in</p>")

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Callback)
threading.Thread(target=server.serve_forever, daemon=True).start()
redirect_uri = f"http://127.0.0.1:{server.server_port}/callback"

meta = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
assert meta["issuer"] == issuer, meta
assert meta["code_challenge_methods_supported"] == ["S256"], meta

scope = "openid profile email offline_access users:read"
client = OAuth2Session(
    client_id,
    client_secret,
    scope=scope,
    redirect_uri=redirect_uri,
    code_challenge_method="S256",
    token_endpoint_auth_method="none" if public else "client_secret_basic",
)
code_verifier = generate_token(48)
nonce = generate_token(20)
url, state = client.create_authorization_url(
    meta["authorization_endpoint"], code_verifier=code_verifier, nonce=nonce
)

options = webdriver.ChromeOptions()
for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=900,1000"):
    options.add_argument(flag)
options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
driver = webdriver.Chrome(
    service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options
)
try:
    wait = WebDriverWait(driver, 20)
    driver.get(url)
    wait.until(EC.presence_of_element_located((By.ID, "email")))
    assert "Sign in" in driver.title, driver.title
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    approve = wait.until(
        EC.element_to_be_clickable((By.CSS_SELECTOR, "button[name=decision][value=approve]"))
    )
    page = driver.find_element(By.TAG_NAME, "main").text
    assert "wants to access your Nexus account" in page, page
    if screenshot:
        driver.save_screenshot(screenshot)
    approve.click()
    wait.until(lambda d: callbacks)
finally:
    driver.quit()
    server.shutdown()

callback = f"http://127.0.0.1:{server.server_port}{callbacks[0]}"
from urllib.parse import parse_qs, urlparse

answered = parse_qs(urlparse(callback).query)
assert answered["iss"] == [issuer], answered  # RFC 9207
token = client.fetch_token(
    meta["token_endpoint"],
    authorization_response=callback,
    state=state,
    code_verifier=code_verifier,
)

# The id_token, verified as any relying party would.
keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
decoded = jwt.decode(token["id_token"], keys, algorithms=["EdDSA"])
claims = CodeIDToken(
    decoded.claims,
    decoded.header,
    options={
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": client_id},
    },
    params={"nonce": nonce, "access_token": token["access_token"]},
)
claims.validate()
assert claims["at_hash"], claims

info = client.get(meta["userinfo_endpoint"]).json()
assert info["sub"] == claims["sub"], (info, dict(claims))

first_refresh = token["refresh_token"]
refreshed = client.refresh_token(meta["token_endpoint"], refresh_token=first_refresh)
assert refreshed["refresh_token"] != first_refresh, "refresh tokens rotate"

# What proves the client at the token endpoint from here on.
proof = {"data": {"client_id": client_id}} if public else {"auth": (client_id, client_secret)}
if public:
    # A stolen, already used refresh token presented again ends the whole sign-in (RFC 9700).
    reused = requests.post(
        meta["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": first_refresh, **proof["data"]},
        timeout=10,
    )
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant", reused.text
    newest = requests.post(
        meta["token_endpoint"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": refreshed["refresh_token"],
            **proof["data"],
        },
        timeout=10,
    )
    assert newest.status_code == 400 and newest.json()["error"] == "invalid_grant", newest.text

revoked = client.revoke_token(
    meta["revocation_endpoint"], token=refreshed["refresh_token"], token_type_hint="refresh_token"
)
assert revoked.status_code == 200, revoked.text
after = requests.post(
    meta["token_endpoint"],
    data={
        "grant_type": "refresh_token",
        "refresh_token": refreshed["refresh_token"],
        **proof.get("data", {}),
    },
    auth=proof.get("auth"),
    timeout=10,
)
assert after.status_code == 400 and after.json()["error"] == "invalid_grant", after.text

print(
    json.dumps(
        {
            "sub": claims["sub"],
            "org": claims["org"],
            "email": claims.get("email"),
            "name": claims.get("name"),
            "scope": token["scope"],
            "userinfo": info,
            "access_token": refreshed["access_token"],
            "public": public,
        }
    )
)
