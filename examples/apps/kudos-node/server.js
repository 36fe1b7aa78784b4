// The kudos example app: a federation-v2 subgraph built with Apollo's @apollo/subgraph on plain
// node:http. It adds `User.kudosSummary` and `Query.kudosLeaderboard` to the Nexus supergraph.
// Every call from the Nexus router carries a context token (an EdDSA JWT with `aud` = "kudos");
// the app verifies it against the published JWKS and answers for the token's organization only.

import { createServer } from "node:http";

import { buildSubgraphSchema } from "@apollo/subgraph";
import { graphql, Kind, parse } from "graphql";
import { gql } from "graphql-tag";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { Webhook } from "standardwebhooks";

const NAMESPACE = "kudos";
const PORT = Number(process.env.PORT ?? 5002);
const HOST = process.env.HOST || "127.0.0.1";
const NEXUS_JWKS_URL = process.env.NEXUS_JWKS_URL || "http://127.0.0.1:4000/.well-known/jwks.json";
const NEXUS_ISSUER = process.env.NEXUS_ISSUER || "http://127.0.0.1:4000";
// The app's webhook secret (`whsec_…`, from `rotateWebhookSecret`); without it /webhooks refuses.
const WEBHOOK_SECRET = process.env.WEBHOOK_SECRET || "";
const MAX_BODY_BYTES = 1024 * 1024;

if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) {
  console.error(`PORT must be a port number (0 for any free port), not ${process.env.PORT}`);
  process.exit(1);
}

// Every type the app defines starts with `Kudos`, every field it adds to Query or to a core type
// with `kudos`. Fields on core types are nullable: where the app is not installed the router
// answers null for them.
const typeDefs = gql`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

  type Query {
    "The users of your organization who received the most kudos."
    kudosLeaderboard(first: Int = 3): [KudosEntry!]!
  }

  # A core Nexus user (a stub with its key): the app adds a field to it.
  type User @key(fields: "id") {
    id: ID!
    "Kudos this user received in your organization."
    kudosSummary: KudosSummary
  }

  type KudosSummary {
    received: Int!
    organizationId: ID!
    appNamespace: String!
  }

  type KudosEntry {
    userId: ID!
    received: Int!
  }
`;

const LEADERBOARD = [
  { userId: "u1", received: 42 },
  { userId: "u2", received: 17 },
  { userId: "u3", received: 9 },
  { userId: "u4", received: 3 },
];

/** A deterministic number from a user id: the sum of its char codes mod 50. */
function kudosFor(id) {
  let sum = 0;
  for (const ch of String(id)) sum += ch.codePointAt(0);
  return sum % 50;
}

const resolvers = {
  Query: {
    kudosLeaderboard: (_parent, { first }) =>
      LEADERBOARD.slice(0, Math.max(0, Math.min(first ?? 3, LEADERBOARD.length))),
  },
  User: {
    __resolveReference: ({ id }) => ({ id }),
    kudosSummary: ({ id }, _args, { claims }) => ({
      received: kudosFor(id),
      organizationId: claims.org,
      appNamespace: Array.isArray(claims.aud) ? NAMESPACE : claims.aud,
    }),
  },
};

const schema = buildSubgraphSchema({ typeDefs, resolvers });

// Fetched on first use, refetched when a token names an unknown key (key rotation).
const jwks = createRemoteJWKSet(new URL(NEXUS_JWKS_URL));

/** The claims of a valid context token minted by Nexus for this app; throws otherwise. */
async function verifyContextToken(token) {
  const { payload } = await jwtVerify(token, jwks, {
    issuer: NEXUS_ISSUER,
    audience: NAMESPACE,
    algorithms: ["EdDSA"],
  });
  if (payload.typ !== "context") throw new Error("not a context token");
  if (typeof payload.sub !== "string" || typeof payload.org !== "string") {
    throw new Error("the context token names no user or organization");
  }
  return payload;
}

/**
 * The registry fetches the SDL without a token when the app is submitted: a document whose
 * operations select nothing but `_service` needs none.
 */
function onlySelectsService(query) {
  let document;
  try {
    document = parse(query);
  } catch {
    return false;
  }
  const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  return (
    operations.length > 0 &&
    operations.every((op) =>
      op.selectionSet.selections.every((s) => s.kind === Kind.FIELD && s.name.value === "_service"),
    )
  );
}

function send(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sendError(res, status, code, message, headers) {
  send(res, status, { errors: [{ message, extensions: { code } }] }, headers);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(Object.assign(new Error("the request body is too large"), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

async function handleGraphql(req, res) {
  let request;
  try {
    request = JSON.parse(await readBody(req));
  } catch (e) {
    if (e.status === 413) return sendError(res, 413, "BAD_REQUEST", e.message);
    return sendError(res, 400, "BAD_REQUEST", "the body is not valid JSON");
  }
  if (request === null || typeof request !== "object" || typeof request.query !== "string") {
    return sendError(res, 400, "BAD_REQUEST", "expected a JSON object with a `query` string");
  }
  const { query, variables, operationName } = request;

  let claims = null;
  if (!onlySelectsService(query)) {
    const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
    if (!match) {
      return sendError(res, 401, "UNAUTHENTICATED", "no context token: call this app through the Nexus router");
    }
    try {
      claims = await verifyContextToken(match[1]);
    } catch (e) {
      console.error(`kudos: refused a token: ${e.code ?? e.name}: ${e.message}`);
      return sendError(res, 401, "UNAUTHENTICATED", `invalid context token: ${e.message}`);
    }
  }

  const result = await graphql({
    schema,
    source: query,
    contextValue: { claims },
    variableValues: variables ?? undefined,
    operationName: operationName ?? undefined,
  });
  send(res, 200, result);
}

// Webhooks received, each once (a retry carries the same webhook-id).
const received = [];
const seenWebhookIds = new Set();

async function handleWebhook(req, res) {
  if (!WEBHOOK_SECRET) {
    return sendError(res, 503, "NOT_CONFIGURED", "set WEBHOOK_SECRET to receive webhooks");
  }
  const body = await readBody(req);
  let event;
  try {
    // Standard Webhooks: the `v1` HMAC signature and a timestamp within five minutes.
    event = new Webhook(WEBHOOK_SECRET).verify(body, req.headers);
  } catch (e) {
    return sendError(res, 401, "INVALID_SIGNATURE", e.message);
  }
  // Every delivery names the app it is for: one addressed to another app is not ours to handle.
  if (event.recipient?.namespace !== NAMESPACE) {
    return sendError(res, 403, "NOT_THE_RECIPIENT", "this delivery is addressed to another app");
  }
  const id = req.headers["webhook-id"];
  if (!seenWebhookIds.has(id)) {
    seenWebhookIds.add(id);
    received.push({ webhook_id: id, event });
    console.log(`kudos: webhook ${event.type} ${id}`);
  }
  res.writeHead(204);
  res.end();
}

const server = createServer((req, res) => {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  if (path === "/health") {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return sendError(res, 405, "METHOD_NOT_ALLOWED", "use GET", { allow: "GET, HEAD" });
    }
    return send(res, 200, { status: "ok" });
  }
  if (path === "/graphql") {
    if (req.method !== "POST") {
      return sendError(res, 405, "METHOD_NOT_ALLOWED", "use POST", { allow: "POST" });
    }
    return handleGraphql(req, res).catch((e) => {
      console.error("kudos: request failed:", e);
      if (!res.headersSent) sendError(res, 500, "INTERNAL_SERVER_ERROR", "internal error");
      else res.destroy();
    });
  }
  if (path === "/webhooks") {
    if (req.method === "GET") return send(res, 200, received);
    if (req.method !== "POST") {
      return sendError(res, 405, "METHOD_NOT_ALLOWED", "use POST", { allow: "GET, POST" });
    }
    return handleWebhook(req, res).catch((e) => {
      console.error("kudos: webhook failed:", e);
      if (!res.headersSent) sendError(res, 500, "INTERNAL_SERVER_ERROR", "internal error");
    });
  }
  sendError(res, 404, "NOT_FOUND", `no route for ${path}`);
});

server.on("error", (e) => {
  console.error(`kudos: cannot listen on ${HOST}:${PORT}: ${e.message}`);
  process.exit(1);
});

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  const host = HOST.includes(":") ? `[${HOST}]` : HOST;
  console.log(`kudos app listening on http://${host}:${port}/graphql`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
