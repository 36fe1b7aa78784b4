"""sdk/test-vectors/: the verdicts every Nexus SDK gives, run through this one."""

import json
import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from nexus_app import Rejected, Webhook, WebhookRejected, verify_at  # noqa: E402
from nexus_app.context import keys_of  # noqa: E402

VECTORS = pathlib.Path(__file__).resolve().parents[2] / "test-vectors"


class Vectors(unittest.TestCase):
    def test_context_tokens(self):
        vectors = json.loads((VECTORS / "context-tokens.json").read_text())
        keys = keys_of(vectors["jwks"])
        self.assertGreaterEqual(len(vectors["cases"]), 15)
        for case in vectors["cases"]:
            with self.subTest(case["name"]):
                try:
                    claims = verify_at(keys, case["token"], vectors["issuer"], vectors["audience"], case["now"])
                    verdict = "valid"
                    self.assertEqual(claims.aud, vectors["audience"])
                except Rejected as e:
                    verdict = e.code
                self.assertEqual(verdict, case["verdict"])

    def test_webhooks(self):
        vectors = json.loads((VECTORS / "webhooks.json").read_text())
        for case in vectors["cases"]:
            with self.subTest(case["name"]):
                webhook = Webhook(case["secrets"], vectors["jwks"] if case["platform_keys"] else None)
                try:
                    webhook.verify_at(case["id"], case["timestamp"], case["signature"], case["body"], case["now"])
                    verdict = "valid"
                except WebhookRejected as e:
                    verdict = e.code
                self.assertEqual(verdict, case["verdict"])


if __name__ == "__main__":
    unittest.main()
