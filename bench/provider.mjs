// The OpenID Provider for bench/compare.sh: the `oidc-provider` package (installed for the
// tests in oidc-core/tests/oidc-provider/node_modules) on 127.0.0.1, with ONE confidential
// client `client-app` that every relying party of the benchmark shares.
//
// Environment:
//   OP_PORT            port to listen on (default 0: a free port chosen by the OS)
//   OP_REDIRECT_URIS   space-separated redirect URIs of `client-app`
//                      (http://127.0.0.1/oauth2/callback is always registered too: the
//                      benchmark's direct token request uses it, nothing listens there)
//   OP_KEY_DIR         a directory: the public signing key is written there as
//                      `signing.pem` (SPKI PEM) and its key id as `signing.kid`, for
//                      mod_auth_openidc's OIDCOAuthVerifyCertFiles
//
// Accounts: any login, any password (devInteractions), then a consent form.
// ID tokens carry the profile/email claims (conformIdTokenClaims: false), live one hour.
//
// Prints exactly one line `READY http://127.0.0.1:PORT` on stdout once listening (that URL
// is the issuer). Logs go to stderr. Exits on SIGTERM / SIGINT.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PKG = path.resolve(HERE, '../oidc-core/tests/oidc-provider/node_modules/oidc-provider/lib/index.js');
if (!fs.existsSync(PKG)) {
  console.error(`[bench/provider.mjs] ${PKG} is missing: run \`npm ci\` in oidc-core/tests/oidc-provider`);
  process.exit(2);
}
const { default: Provider } = await import(pathToFileURL(PKG).href);

const HOST = '127.0.0.1';
const CLIENT_ID = 'client-app';
const CLIENT_SECRET = 'secret-app-0123456789-0123456789-abcdefghijk';

function log(...args) {
  console.error('[bench/provider.mjs]', ...args);
}

const port = Number(process.env.OP_PORT || 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  log(`OP_PORT is not a port: ${process.env.OP_PORT}`);
  process.exit(2);
}

const redirectUris = [
  ...new Set([
    ...(process.env.OP_REDIRECT_URIS || '').split(/\s+/).filter(Boolean),
    'http://127.0.0.1/oauth2/callback',
  ]),
];

const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const kid = `bench-${crypto.randomUUID()}`;
const jwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };

if (process.env.OP_KEY_DIR) {
  const dir = process.env.OP_KEY_DIR;
  fs.writeFileSync(path.join(dir, 'signing.pem'), publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
  fs.writeFileSync(path.join(dir, 'signing.kid'), `${kid}\n`, { mode: 0o644 });
}

const configuration = {
  clients: [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      id_token_signed_response_alg: 'RS256',
    },
  ],
  jwks: { keys: [jwk] },
  cookies: { keys: ['bench-cookie-key-0123456789abcdef0123456789'] },
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  // PKCE is accepted (and checked) when a relying party sends it, required of none.
  pkce: { required: () => false },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@example.com`,
          email_verified: true,
          name: `Bench User ${id}`,
          preferred_username: id,
          groups: ['group1', 'group2'],
        };
      },
    };
  },
  features: {
    devInteractions: { enabled: true },
    userinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 3600,
    RefreshToken: 24 * 3600,
    Session: 24 * 3600,
    Grant: 24 * 3600,
  },
};

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(signal, () => {
    console.error(`[bench/provider.mjs] exiting on ${signal}`);
    process.exit(0);
  });
}
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

const server = http.createServer();
server.on('error', (err) => {
  log(`cannot listen: ${err.message}`);
  process.exit(1);
});
server.listen(port, HOST, () => {
  const issuer = `http://${HOST}:${server.address().port}`;
  let provider;
  try {
    provider = new Provider(issuer, configuration);
  } catch (err) {
    log(`bad configuration: ${err.stack || err}`);
    process.exit(2);
  }
  provider.on('server_error', (ctx, err) => log('server_error', err));
  server.on('request', provider.callback());
  log(`client ${CLIENT_ID}, redirect URIs: ${redirectUris.join(' ')}`);
  process.stdout.write(`READY ${issuer}\n`);
});
