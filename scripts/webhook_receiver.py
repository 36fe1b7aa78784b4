#!/usr/bin/env python3
"""A webhook endpoint for trying Nexus's webhooks: verifies each POST with the `standardwebhooks`
package and prints it, deduplicating by `webhook-id`.

A delivery names the app it is for (`recipient`); the platform's facts are at the top level and
in `data`, what the app's payload query answered is in `shaped`.

usage: webhook_receiver.py PORT SECRET      (pip install standardwebhooks)
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

PORT, SECRET = int(sys.argv[1]), sys.argv[2]
seen = set()


class Hooks(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            event = Webhook(SECRET).verify(body, dict(self.headers))
        except WebhookVerificationError as e:
            print(f"refused: {e}", flush=True)
            self.send_response(400)
            self.end_headers()
            return
        webhook_id = self.headers["webhook-id"]
        if webhook_id in seen:
            print(f"duplicate {webhook_id}, already handled", flush=True)
        else:
            seen.add(webhook_id)
            print(f"verified {event['type']} {webhook_id} sequence={event['sequence']}", flush=True)
            print(f"for {event['recipient']['namespace']} ({event['recipient']['app_id']})", flush=True)
            print(json.dumps(event["data"], indent=2), flush=True)
            if "shaped" in event:
                print("shaped by the app's query:", json.dumps(event["shaped"], indent=2), flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


print(f"listening on http://127.0.0.1:{PORT}/hooks", flush=True)
HTTPServer(("127.0.0.1", PORT), Hooks).serve_forever()
