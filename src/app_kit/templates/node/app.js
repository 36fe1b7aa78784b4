// __NAME__: a Nexus app (Apollo's @apollo/subgraph on plain node:http). It adds `User.__NS__Note`,
// `Organization.__NS__Settings` and `Query.__NS__Hello` to the Nexus graph by the core's `id` only
// (every type starts with `__PREFIX__`, every field on a core type with `__NS__`). Every call from
// the router carries a context token, verified with the Nexus SDK; webhooks are verified the same
// way.

import { createHash, randomBytes } from 'node:crypto';

import { buildSubgraphSchema } from '@apollo/subgraph';
import { ContextVerifier, Rejected, Webhook } from '@nexus/app';
import { graphql } from 'graphql';
import { gql } from 'graphql-tag';

export const NAMESPACE = '__NS__';

export function configFromEnv(env = process.env) {
  return {
    port: Number(env.PORT || __PORT__),
    platform: (env.NEXUS_URL || 'http://127.0.0.1:4000').replace(/\/+$/, ''),
    webhookSecrets: (env.NEXUS_WEBHOOK_SECRETS || '').split(',').filter(Boolean),
    clientId: env.NEXUS_CLIENT_ID || null,
  };
}

const typeDefs = gql`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])

  type Query {
    "Says hello to the caller."
    __NS__Hello: String!
  }

  type Mutation {
    "Writes the note about a user in the caller's organization."
    __NS__SetNote(userId: ID!, text: String!): String
  }

  type User @key(fields: "id") {
    id: ID!
    "A note about this user, kept per organization."
    __NS__Note: String
  }

  type Organization @key(fields: "id") {
    id: ID!
    __NS__Settings: __PREFIX__Settings
  }

  type __PREFIX__Settings {
    viewerRole: String
    grantedScopes: [String!]!
  }
`;

export function createApp(config = configFromEnv()) {
  const notes = new Map();
  const received = [];
  const pending = new Map();
  const verifier = new ContextVerifier({ issuer: config.platform, namespace: NAMESPACE });
  const redirectUri = `http://127.0.0.1:${config.port}/sign-in/callback`;
  const schema = buildSubgraphSchema({
    typeDefs,
    resolvers: {
      Query: {
        __NS__Hello: (_p, _a, { claims }) => `Hello from __NAME__, ${claims.sub}`,
      },
      Mutation: {
        __NS__SetNote: (_p, { userId, text }, { claims }) => {
          if (!claims.org) return null;
          notes.set(`${claims.org}/${userId}`, text);
          return text;
        },
      },
      User: {
        __resolveReference: ({ id }) => ({ id }),
        __NS__Note: ({ id }, _a, { claims }) => notes.get(`${claims.org}/${id}`) ?? null,
      },
      Organization: {
        __resolveReference: ({ id }) => ({ id }),
        // Only the organization the call acts in.
        __NS__Settings: ({ id }, _a, { claims }) =>
          claims.org === id ? { viewerRole: claims.role, grantedScopes: claims.scopes } : null,
      },
    },
  });

  async function graphqlRoute(request, body) {
    let payload;
    try {
      payload = JSON.parse(body || '{}');
    } catch {
      return [400, 'text/plain', 'not JSON'];
    }
    const query = String(payload.query ?? '');
    let claims = null;
    // The platform fetches the SDL without a token; everything else needs one.
    if (!(query.includes('_service') && !query.includes('_entities'))) {
      try {
        claims = await verifier.verify(request.headers.authorization ?? '');
      } catch (e) {
        if (!(e instanceof Rejected)) throw e;
        return [401, 'text/plain', `context token refused: ${e.code}`];
      }
    }
    const result = await graphql({
      schema,
      source: query,
      variableValues: payload.variables,
      operationName: payload.operationName,
      contextValue: { claims },
    });
    return [200, 'application/json', JSON.stringify(result)];
  }

  async function webhookRoute(request, body) {
    if (request.method === 'GET') return [200, 'application/json', JSON.stringify(received.map((r) => r.event))];
    let platformJwks;
    if (String(request.headers['webhook-signature'] ?? '').includes('v1a,')) {
      platformJwks = await (await fetch(`${config.platform}/.well-known/jwks.json`)).json();
    }
    try {
      new Webhook(config.webhookSecrets, { platformJwks }).verify(request.headers, body);
    } catch (e) {
      if (!(e instanceof Rejected)) throw e;
      return [401, 'text/plain', e.code];
    }
    const id = request.headers['webhook-id'];
    if (!received.some((r) => r.id === id)) {
      const event = JSON.parse(body);
      console.log(`webhook ${event.type}: ${JSON.stringify(event.data)}`);
      received.push({ id, event });
    }
    return [204, 'text/plain', ''];
  }

  function signIn() {
    if (!config.clientId) return [404, 'text/plain', 'set NEXUS_CLIENT_ID to sign in with Nexus'];
    const state = randomBytes(32).toString('base64url');
    const verifier = randomBytes(32).toString('base64url');
    pending.set(state, verifier);
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: config.clientId,
      redirect_uri: redirectUri,
      scope: 'openid profile email',
      state,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    });
    return [303, 'text/plain', '', { location: `${config.platform}/oauth/authorize?${query}` }];
  }

  async function callback(url) {
    const state = url.searchParams.get('state') ?? '';
    const verifier = pending.get(state);
    pending.delete(state);
    const code = url.searchParams.get('code');
    if (!code || !verifier || !config.clientId) return [400, 'text/plain', 'no sign-in under way'];
    const token = await (
      await fetch(`${config.platform}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: redirectUri,
          client_id: config.clientId,
          code_verifier: verifier,
        }),
      })
    ).json();
    if (!token.access_token) return [401, 'text/plain', `sign-in refused: ${JSON.stringify(token)}`];
    const profile = await (
      await fetch(`${config.platform}/oauth/userinfo`, { headers: { authorization: `Bearer ${token.access_token}` } })
    ).json();
    return [200, 'text/plain', `Signed in as ${profile.email ?? '?'}`];
  }

  /** Answers one request: [status, content type, body, extra headers]. */
  return async function handle(request, body) {
    const url = new URL(request.url, 'http://localhost');
    if (url.pathname === '/graphql' && request.method === 'POST') return graphqlRoute(request, body);
    if (url.pathname === '/health') return [200, 'text/plain', 'ok'];
    if (url.pathname === '/webhooks') return webhookRoute(request, body);
    if (url.pathname === '/sign-in') return signIn();
    if (url.pathname === '/sign-in/callback') return callback(url);
    return [404, 'text/plain', 'not found'];
  };
}
