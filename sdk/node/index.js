// What a Nexus app needs to trust the platform: context tokens, webhooks, installation tokens.
// Every verdict is pinned by sdk/test-vectors/, which the Rust and Python SDKs run too.
import { createPublicKey, timingSafeEqual, verify as verifySignature } from 'node:crypto';
import { compactVerify, createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader } from 'jose';
import { Webhook as StandardWebhook } from 'standardwebhooks';

export const LEEWAY_SECONDS = 10;
export const TOLERANCE_SECONDS = 5 * 60;

/** A refused token or delivery; `code` is the verdict every Nexus SDK gives for it. */
export class Rejected extends Error {
  constructor(code, message) {
    super(message ?? code);
    this.code = code;
  }
}

function headerOf(token) {
  if (typeof token !== 'string' || token.split('.').length !== 3) throw new Rejected('malformed');
  try {
    return decodeProtectedHeader(token);
  } catch {
    throw new Rejected('malformed');
  }
}

/**
 * Verifies `token` with `keys` (a jose key set) as of `now` (seconds since the epoch). Checks, in
 * order: shape, algorithm, key, signature, type, issuer, audience, expiry, not-before.
 */
export async function verifyAt(keys, token, { issuer, audience, now }) {
  const header = headerOf(token);
  if (header.alg !== 'EdDSA') throw new Rejected('bad_algorithm');
  if (typeof header.kid !== 'string') throw new Rejected('unknown_key');
  let payload;
  try {
    ({ payload } = await compactVerify(token, keys, { algorithms: ['EdDSA'] }));
  } catch (e) {
    const code = {
      ERR_JWKS_NO_MATCHING_KEY: 'unknown_key',
      ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'bad_signature',
      ERR_JOSE_ALG_NOT_ALLOWED: 'bad_algorithm',
      ERR_JWKS_TIMEOUT: 'keys_unavailable',
    }[e.code];
    throw new Rejected(code ?? 'malformed', e.message);
  }
  let claims;
  try {
    claims = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    throw new Rejected('malformed');
  }
  if (claims.typ !== 'context') throw new Rejected('wrong_type');
  if (claims.iss !== issuer) throw new Rejected('wrong_issuer');
  if (claims.aud !== audience) throw new Rejected('wrong_audience');
  if (!Number.isInteger(claims.exp)) throw new Rejected('malformed');
  if (claims.exp + LEEWAY_SECONDS < now) throw new Rejected('expired');
  for (const name of ['nbf', 'iat']) {
    if (Number.isInteger(claims[name]) && claims[name] > now + LEEWAY_SECONDS) throw new Rejected('not_yet_valid');
  }
  return {
    sub: claims.sub,
    org: claims.org ?? null,
    role: claims.role ?? null,
    inst: claims.inst ?? null,
    scopes: Array.isArray(claims.scopes) ? claims.scopes : [],
    iss: claims.iss,
    aud: claims.aud,
    exp: claims.exp,
    iat: claims.iat,
  };
}

/** The key set of a JWKS document, for `verifyAt`. */
export function localKeys(jwks) {
  return createLocalJWKSet(jwks);
}

/** Verifies context tokens for the app `namespace` on the platform `issuer`. */
export class ContextVerifier {
  constructor({ issuer, namespace, jwksUrl }) {
    this.issuer = issuer.replace(/\/+$/, '');
    this.namespace = namespace;
    // jose caches the keys and refetches them (at most every 30 s) for an unknown kid.
    this.keys = createRemoteJWKSet(new URL(jwksUrl ?? `${this.issuer}/.well-known/jwks.json`), {
      cooldownDuration: 30_000,
    });
  }

  /** The claims of `token` (bare, or an Authorization header value). */
  async verify(token) {
    const bare = String(token).replace(/^Bearer\s+/, '').trim();
    return verifyAt(this.keys, bare, {
      issuer: this.issuer,
      audience: this.namespace,
      now: Math.floor(Date.now() / 1000),
    });
  }
}

/** A receiver of one endpoint's deliveries (Standard Webhooks `v1` and `v1a`). */
export class Webhook {
  constructor(secrets, { platformJwks } = {}) {
    this.signers = secrets.map((s) => new StandardWebhook(s));
    this.keys = (platformJwks?.keys ?? [])
      .filter((k) => k.kty === 'OKP' && k.crv === 'Ed25519')
      .map((k) => createPublicKey({ key: k, format: 'jwk' }));
  }

  /** Verifies a delivery now from its headers (a plain object or Headers) and raw body. */
  verify(headers, body) {
    const get = (name) => (typeof headers.get === 'function' ? headers.get(name) : headers[name]) ?? '';
    this.verifyAt(get('webhook-id'), get('webhook-timestamp'), get('webhook-signature'), body, Math.floor(Date.now() / 1000));
  }

  verifyAt(id, timestamp, signatures, body, now) {
    if (!/^\s*\d+\s*$/.test(timestamp) || !id) throw new Rejected('malformed');
    const sent = Number.parseInt(timestamp, 10);
    if (sent < now - TOLERANCE_SECONDS) throw new Rejected('timestamp_too_old');
    if (sent > now + TOLERANCE_SECONDS) throw new Rejected('timestamp_too_new');
    const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
    const expected = this.signers.map((s) => s.sign(id, new Date(sent * 1000), text));
    const content = Buffer.from(`${id}.${sent}.${text}`);
    for (const signature of signatures.split(/\s+/).filter(Boolean)) {
      const [version, value] = [signature.slice(0, signature.indexOf(',')), signature.slice(signature.indexOf(',') + 1)];
      if (version === 'v1' && expected.some((e) => e.length === signature.length && timingSafeEqual(Buffer.from(e), Buffer.from(signature)))) {
        return;
      }
      if (version === 'v1a') {
        const raw = Buffer.from(value, 'base64');
        if (this.keys.some((key) => verifySignature(null, content, key, raw))) return;
      }
    }
    throw new Rejected('bad_signature');
  }
}

/** Installation tokens by OAuth 2.0 client credentials, cached until shortly before expiry. */
export class InstallationTokens {
  constructor({ platform, clientId, clientSecret, installationId }) {
    this.tokenUrl = `${platform.replace(/\/+$/, '')}/oauth/token`;
    this.basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64');
    this.installationId = installationId;
    this.current = null;
  }

  async token() {
    if (this.current && Date.now() + 30_000 < this.current.until) return this.current.token;
    const answer = await fetch(this.tokenUrl, {
      method: 'POST',
      headers: { authorization: `Basic ${this.basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', installation_id: this.installationId }),
    });
    const body = await answer.json();
    if (!answer.ok) throw new Rejected(body.error ?? `http_${answer.status}`, body.error_description);
    this.current = { token: body.access_token, until: Date.now() + body.expires_in * 1000 };
    return body.access_token;
  }

  forget() {
    this.current = null;
  }
}

/** The platform's graph, called with installation tokens. */
export class Graph {
  constructor({ platform, tokens }) {
    this.url = `${platform.replace(/\/+$/, '')}/graphql`;
    this.tokens = tokens;
  }

  async query(query, variables = {}) {
    const answer = await fetch(this.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${await this.tokens.token()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    if (answer.status === 401) this.tokens.forget();
    return answer.json();
  }
}
