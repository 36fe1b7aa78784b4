// sdk/test-vectors/: the verdicts every Nexus SDK gives, run through this one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Rejected, Webhook, localKeys, verifyAt } from '../index.js';

const vectors = (name) => JSON.parse(readFileSync(new URL(`../../test-vectors/${name}`, import.meta.url), 'utf8'));

test('context tokens', async () => {
  const v = vectors('context-tokens.json');
  const keys = localKeys(v.jwks);
  assert.ok(v.cases.length >= 15);
  for (const c of v.cases) {
    let verdict;
    try {
      const claims = await verifyAt(keys, c.token, { issuer: v.issuer, audience: v.audience, now: c.now });
      assert.equal(claims.aud, v.audience);
      verdict = 'valid';
    } catch (e) {
      if (!(e instanceof Rejected)) throw e;
      verdict = e.code;
    }
    assert.equal(verdict, c.verdict, c.name);
  }
});

test('webhooks', () => {
  const v = vectors('webhooks.json');
  for (const c of v.cases) {
    const webhook = new Webhook(c.secrets, c.platform_keys ? { platformJwks: v.jwks } : {});
    let verdict;
    try {
      webhook.verifyAt(c.id, c.timestamp, c.signature, c.body, c.now);
      verdict = 'valid';
    } catch (e) {
      if (!(e instanceof Rejected)) throw e;
      verdict = e.code;
    }
    assert.equal(verdict, c.verdict, c.name);
  }
});
