// The app's own tests: offline, no platform needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';

import { createApp } from '../app.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const app = () =>
  createApp({ port: __PORT__, platform: 'http://127.0.0.1:9', webhookSecrets: [SECRET], clientId: '0192f0c4-0000-7000-8000-000000000001' });
const request = (method, url, headers = {}) => ({ method, url, headers });

test('the schema extends the core by id inside its namespace', async () => {
  const [status, , body] = await app()(request('POST', '/graphql'), JSON.stringify({ query: '{ _service { sdl } }' }));
  assert.equal(status, 200, body);
  const sdl = JSON.parse(body).data._service.sdl;
  assert.match(sdl, /type User\s+@key\(fields: "id"\)/);
  assert.match(sdl, /__NS__Note: String/);
  assert.match(sdl, /__NS__Settings: __PREFIX__Settings/);
  assert.match(sdl, /__NS__Hello: String!/);
});

test('a call without a context token is refused', async () => {
  const [status] = await app()(request('POST', '/graphql'), JSON.stringify({ query: '{ __NS__Hello }' }));
  assert.equal(status, 401);
});

test('a signed webhook is taken and a tampered one refused', async () => {
  const id = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
  const body = '{"type":"app.installed","data":{}}';
  const now = Math.floor(Date.now() / 1000);
  const key = Buffer.from(SECRET.slice('whsec_'.length), 'base64');
  const signature = `v1,${createHmac('sha256', key).update(`${id}.${now}.${body}`).digest('base64')}`;
  const headers = { 'webhook-id': id, 'webhook-timestamp': String(now), 'webhook-signature': signature };
  const handle = app();
  assert.equal((await handle(request('POST', '/webhooks', headers), body))[0], 204);
  const [status, , reason] = await handle(request('POST', '/webhooks', headers), body.replace('installed', 'uninstalled'));
  assert.deepEqual([status, reason], [401, 'bad_signature']);
});

test('sign-in sends the person to the platform with PKCE', async () => {
  const [status, , , headers] = await app()(request('GET', '/sign-in'), '');
  assert.equal(status, 303);
  assert.ok(headers.location.startsWith('http://127.0.0.1:9/oauth/authorize?'), headers.location);
  assert.match(headers.location, /code_challenge_method=S256/);
  assert.match(headers.location, /redirect_uri=http%3A%2F%2F127\.0\.0\.1%3A__PORT__%2Fsign-in%2Fcallback/);
});
