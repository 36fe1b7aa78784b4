"""The app's own tests: offline, no platform needed."""

import base64
import hashlib
import hmac
import pathlib
import sys
import time
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from starlette.testclient import TestClient  # noqa: E402

import app as subject  # noqa: E402

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def client() -> TestClient:
    config = subject.Config()
    config.platform = "http://127.0.0.1:9"
    config.webhook_secrets = [SECRET]
    config.client_id = "0192f0c4-0000-7000-8000-000000000001"
    config.port = __PORT__
    return TestClient(subject.create_app(config))


class App(unittest.TestCase):
    def test_the_schema_extends_the_core_by_id_inside_its_namespace(self):
        answer = client().post("/graphql", json={"query": "{ _service { sdl } }"})
        self.assertEqual(answer.status_code, 200, answer.text)
        sdl = answer.json()["data"]["_service"]["sdl"]
        self.assertIn('type User @key(fields: "id")', sdl)
        self.assertIn("__NS__Note: String", sdl)
        self.assertIn("__NS__Settings: __PREFIX__Settings", sdl)
        self.assertIn("__NS__Hello: String!", sdl)

    def test_a_call_without_a_context_token_is_refused(self):
        answer = client().post("/graphql", json={"query": "{ __NS__Hello }"})
        self.assertEqual(answer.status_code, 401)

    def test_a_signed_webhook_is_taken_and_a_tampered_one_refused(self):
        delivery, body, now = "msg_p5jXN8AQM9LWM0D4loKWxJek", '{"type":"app.installed","data":{}}', int(time.time())
        key = base64.b64decode(SECRET.removeprefix("whsec_"))
        mac = hmac.new(key, f"{delivery}.{now}.{body}".encode(), hashlib.sha256).digest()
        headers = {
            "webhook-id": delivery,
            "webhook-timestamp": str(now),
            "webhook-signature": "v1," + base64.b64encode(mac).decode(),
        }
        c = client()
        self.assertEqual(c.post("/webhooks", content=body, headers=headers).status_code, 204)
        refused = c.post("/webhooks", content=body.replace("installed", "uninstalled"), headers=headers)
        self.assertEqual((refused.status_code, refused.text), (401, "bad_signature"))

    def test_sign_in_sends_the_person_to_the_platform_with_pkce(self):
        answer = client().get("/sign-in", follow_redirects=False)
        self.assertEqual(answer.status_code, 303)
        location = answer.headers["location"]
        self.assertTrue(location.startswith("http://127.0.0.1:9/oauth/authorize?"), location)
        self.assertIn("code_challenge_method=S256", location)
        self.assertIn("redirect_uri=http%3A%2F%2F127.0.0.1%3A__PORT__%2Fsign-in%2Fcallback", location)


if __name__ == "__main__":
    unittest.main()
