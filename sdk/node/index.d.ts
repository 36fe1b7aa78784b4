export const LEEWAY_SECONDS: number;
export const TOLERANCE_SECONDS: number;

export class Rejected extends Error {
  code: string;
}

export interface ContextClaims {
  sub: string;
  org: string | null;
  role: string | null;
  inst: string | null;
  scopes: string[];
  iss: string;
  aud: string;
  exp: number;
  iat: number;
}

export type KeySet = ReturnType<typeof import('jose').createLocalJWKSet>;

export function verifyAt(
  keys: KeySet,
  token: string,
  options: { issuer: string; audience: string; now: number },
): Promise<ContextClaims>;

export function localKeys(jwks: { keys: object[] }): KeySet;

export class ContextVerifier {
  constructor(options: { issuer: string; namespace: string; jwksUrl?: string });
  verify(token: string): Promise<ContextClaims>;
}

export class Webhook {
  constructor(secrets: string[], options?: { platformJwks?: { keys: object[] } });
  verify(headers: Record<string, string> | Headers, body: string | Uint8Array): void;
  verifyAt(id: string, timestamp: string, signatures: string, body: string | Uint8Array, now: number): void;
}

export class InstallationTokens {
  constructor(options: { platform: string; clientId: string; clientSecret: string; installationId: string });
  token(): Promise<string>;
  forget(): void;
}

export class Graph {
  constructor(options: { platform: string; tokens: InstallationTokens });
  query(query: string, variables?: Record<string, unknown>): Promise<{ data?: unknown; errors?: unknown[] }>;
}
