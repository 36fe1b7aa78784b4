"""Calling the graph as the app: an installation token by OAuth 2.0 client credentials (with the
installation named), cached until shortly before it expires, and a minimal GraphQL client."""

import threading
import time

import requests

RENEW_BEFORE_SECONDS = 30


class TokenRefused(Exception):
    def __init__(self, error: str, description: str = ""):
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


class InstallationTokens:
    def __init__(self, platform: str, client_id: str, client_secret: str, installation_id: str):
        self.token_url = f"{platform.rstrip('/')}/oauth/token"
        self._auth = (client_id, client_secret)
        self._installation = installation_id
        self._lock = threading.Lock()
        self._current: tuple[str, float] | None = None

    def token(self) -> str:
        with self._lock:
            if self._current and time.monotonic() + RENEW_BEFORE_SECONDS < self._current[1]:
                return self._current[0]
            answer = requests.post(
                self.token_url,
                auth=self._auth,
                data={"grant_type": "client_credentials", "installation_id": self._installation},
                timeout=10,
            )
            body = answer.json()
            if answer.status_code != 200:
                raise TokenRefused(body.get("error", str(answer.status_code)), body.get("error_description", ""))
            self._current = (body["access_token"], time.monotonic() + body["expires_in"])
            return body["access_token"]

    def forget(self) -> None:
        with self._lock:
            self._current = None


class Graph:
    def __init__(self, platform: str, tokens: InstallationTokens):
        self.url = f"{platform.rstrip('/')}/graphql"
        self.tokens = tokens

    def query(self, query: str, variables: dict | None = None) -> dict:
        answer = requests.post(
            self.url,
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {self.tokens.token()}"},
            timeout=30,
        )
        if answer.status_code == 401:
            self.tokens.forget()
        return answer.json()
