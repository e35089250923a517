// A real OpenID Provider (the `oidc-provider` package) on 127.0.0.1, for
// oidc-core's integration tests. Started by `tests/it/provider.rs`.
//
// Environment:
//   OP_PORT              port to listen on (default 0: a free port chosen by the OS)
//   OP_JWKS_FILE         private JWKS ({"keys":[...]}) to sign with; default: one
//                        fresh RS256 key generated at start
//   OP_CLIENT_JWKS_FILE  public JWKS of the `client-private-key-jwt` client; that
//                        client exists only when this is set
//   OP_ID_TOKEN_ALG      id_token_signed_response_alg of every client (default RS256)
//   OP_APP_ORIGIN        origin of a relying party served by a test (http://127.0.0.1:PORT):
//                        adds the client `client-app` (secret `secret-app-...`) whose
//                        redirect URI is ORIGIN/oauth2/callback and whose back-channel
//                        logout URI is ORIGIN/oauth2/backchannel_logout (sid required)
//   OP_ROTATE_REFRESH    "1": every refresh token is single use (rotated on refresh)
//
// Accounts: any login works; a login starting with `big-` has 300 long group names.
//
// Prints exactly one line `READY http://127.0.0.1:PORT` on stdout once listening
// (that URL is the issuer). Everything else goes to stderr. Exits on SIGTERM,
// SIGINT, and when stdin closes, so a parent that dies never leaves it behind.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const HOST = '127.0.0.1';

function log(...args) {
  console.error('[provider.mjs]', ...args);
}

function readJson(path, what) {
  try {
    return JSON.parse(fs.readFileSync(path, 'utf8'));
  } catch (err) {
    log(`cannot read ${what} from ${path}: ${err.message}`);
    process.exit(2);
  }
}

function signingKeys() {
  const path = process.env.OP_JWKS_FILE;
  if (path) {
    const jwks = readJson(path, 'OP_JWKS_FILE');
    if (!jwks || !Array.isArray(jwks.keys) || jwks.keys.length === 0) {
      log(`OP_JWKS_FILE ${path} holds no {"keys":[...]}`);
      process.exit(2);
    }
    return jwks;
  }
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return {
    keys: [{ ...jwk, kid: `generated-${crypto.randomUUID()}`, alg: 'RS256', use: 'sig' }],
  };
}

function parsePort() {
  const raw = process.env.OP_PORT;
  if (raw === undefined || raw === '') return 0;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    log(`OP_PORT is not a port: ${raw}`);
    process.exit(2);
  }
  return port;
}

const idTokenAlg = process.env.OP_ID_TOKEN_ALG || 'RS256';

const common = {
  redirect_uris: ['http://127.0.0.1/callback', 'http://127.0.0.1/oauth2/callback'],
  post_logout_redirect_uris: ['http://127.0.0.1/logged-out'],
  grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
  response_types: ['code'],
  id_token_signed_response_alg: idTokenAlg,
};

const clients = [
  {
    ...common,
    client_id: 'client-basic',
    client_secret: 'secret-basic-0123456789-0123456789-abcdefgh',
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    ...common,
    client_id: 'client-post',
    client_secret: 'secret-post-0123456789-0123456789-abcdefghij',
    token_endpoint_auth_method: 'client_secret_post',
  },
  {
    ...common,
    client_id: 'client-secret-jwt',
    client_secret: 'secret-jwt-0123456789-0123456789-0123456789-abcdefghijkl',
    token_endpoint_auth_method: 'client_secret_jwt',
    token_endpoint_auth_signing_alg: 'HS256',
  },
  {
    ...common,
    // A public client cannot use the client_credentials grant.
    grant_types: ['authorization_code', 'refresh_token'],
    client_id: 'client-public',
    token_endpoint_auth_method: 'none',
  },
];

if (process.env.OP_CLIENT_JWKS_FILE) {
  clients.push({
    ...common,
    client_id: 'client-private-key-jwt',
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: readJson(process.env.OP_CLIENT_JWKS_FILE, 'OP_CLIENT_JWKS_FILE'),
  });
}

if (process.env.OP_APP_ORIGIN) {
  const origin = process.env.OP_APP_ORIGIN;
  clients.push({
    ...common,
    client_id: 'client-app',
    client_secret: 'secret-app-0123456789-0123456789-abcdefghijk',
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [`${origin}/oauth2/callback`, 'http://127.0.0.1/oauth2/callback'],
    post_logout_redirect_uris: [`${origin}/`, 'http://127.0.0.1/logged-out'],
    backchannel_logout_uri: `${origin}/oauth2/backchannel_logout`,
    backchannel_logout_session_required: true,
  });
}

// The one resource server: access tokens for it are JWTs (typ at+jwt).
const API_RESOURCE = 'urn:api';
const API_SCOPES = 'api:read api:write';

const configuration = {
  clients,
  jwks: signingKeys(),
  cookies: {
    // Fixed test keys; cookies are not `secure` over plain http, so they work on loopback.
    keys: ['oidc-core-test-cookie-key-0123456789abcdef', 'oidc-core-test-cookie-key-previous'],
  },
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  pkce: {
    // Every authorization code request must carry an S256 code_challenge.
    required: () => true,
  },
  // A refresh token for every client allowed the refresh_token grant, with or
  // without offline_access.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  // Back-channel logout to a relying party on loopback: the provider refuses to connect
  // to special-use addresses (SSRF protection); these tests' one RP lives on 127.0.0.1.
  ...(process.env.OP_APP_ORIGIN
    ? {
        fetch: (url, options) => {
          const { dispatcher, ...rest } = options;
          return globalThis.fetch(url, rest);
        },
      }
    : {}),
  // The provider's default rotates for public clients only.
  ...(process.env.OP_ROTATE_REFRESH === '1' ? { rotateRefreshToken: () => true } : {}),
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@example.com`,
          email_verified: true,
          name: `Test User ${id}`,
          preferred_username: id,
          groups: id.startsWith('big-')
            ? Array.from({ length: 300 }, (_, i) => `group-with-a-long-name-${String(i).padStart(4, '0')}`)
            : ['group1', 'group2'],
        };
      },
    };
  },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    userinfo: { enabled: true },
    clientCredentials: { enabled: true },
    backchannelLogout: { enabled: true },
    deviceFlow: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // No `resource` parameter: no resource, opaque access tokens usable at userinfo.
      defaultResource: async (ctx, client, oneOf) => oneOf,
      // A resource granted at the authorization endpoint applies at the token
      // endpoint too, without repeating `resource` there.
      useGrantedResource: async () => true,
      async getResourceServerInfo(ctx, resourceIndicator) {
        if (resourceIndicator === API_RESOURCE) {
          return {
            scope: API_SCOPES,
            audience: API_RESOURCE,
            accessTokenFormat: 'jwt',
            accessTokenTTL: 3600,
            jwt: { sign: { alg: idTokenAlg } },
          };
        }
        throw new errors.InvalidTarget();
      },
    },
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    ClientCredentials: 600,
    IdToken: 3600,
    Interaction: 3600,
    RefreshToken: 14 * 24 * 3600,
    Session: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
  },
};

function shutdown(reason) {
  log(`exiting: ${reason}`);
  process.exit(0);
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
process.stdin.on('end', () => shutdown('stdin closed'));
process.stdin.on('close', () => shutdown('stdin closed'));
process.stdin.on('error', () => shutdown('stdin error'));
process.stdin.resume();
// A parent that stopped reading our output must not crash us with EPIPE.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

const server = http.createServer();
server.on('error', (err) => {
  log(`cannot listen: ${err.message}`);
  process.exit(1);
});
server.listen(parsePort(), HOST, () => {
  const { port } = server.address();
  const issuer = `http://${HOST}:${port}`;
  let provider;
  try {
    provider = new Provider(issuer, configuration);
  } catch (err) {
    log(`bad configuration: ${err.stack || err}`);
    process.exit(2);
  }
  provider.on('server_error', (ctx, err) => log('server_error', err));
  provider.on('backchannel.error', (ctx, err, client, accountId, sid) =>
    log('backchannel.error', client?.clientId, err.message, err.cause?.message || ''));
  server.on('request', provider.callback());
  process.stdout.write(`READY ${issuer}\n`);
});
