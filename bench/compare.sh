#!/usr/bin/env bash
# bench/compare.sh: our gateway against Apache httpd + mod_auth_openidc, same machine, same run.
#
# Starts, all on 127.0.0.1 with free ports, in a temp dir:
#   - an OpenID Provider (bench/provider.mjs: the `oidc-provider` npm package),
#   - an echo backend (bench/echo.mjs: 200 "ok\n"),
#   - Apache httpd (mpm_event) + mod_auth_openidc as a relying party in front of the backend,
#   - our gateway (target/release/gateway, oauth2-proxy's command line) in front of it too;
# logs in through both (curl driving the provider's login + consent forms), takes an ID token
# from a direct code flow, and runs wrk against: the backend directly, each gateway as a
# plain proxy, with a session cookie, and with a bearer JWT. Prints a markdown table and
# PASS/MISS lines for the performance targets. See bench/README.md.
#
# Usage: bench/compare.sh
# Environment:
#   DURATION=10s      wrk duration of each measured run
#   WARMUP=2s         wrk warm-up run before each measured run (0: none)
#   THREADS=2         wrk threads
#   CONNECTIONS=32    wrk connections
#   ROUNDS=1          rounds of all scenarios (interleaved); each row reports the round with
#                     the median req/s (use 3 or 5 on a machine that other work shares)
#   SKIP_OURS=1       do not build/run our gateway (direct + Apache only)
#   GATEWAY_BIN=PATH  use this gateway binary instead of building target/release/gateway
#   GATEWAY_EXTRA_ARGS="..."  extra arguments for the gateway (word-split)
#   GATEWAY_WORKERS=1  our gateway's tokio worker threads (TOKIO_WORKER_THREADS; empty: one per CPU)
#   KEEP_TMP=1        keep the temp dir (logs, configs, wrk outputs); it is always kept on error
#
# Exit status: 0 when every step and every wrk run succeeded (a missed target is not an
# error); non-zero on any error (missing tool, failed login, a non-2xx response, ...).

set -euo pipefail
export LC_ALL=C

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-1}
SKIP_OURS=${SKIP_OURS:-0}
KEEP_TMP=${KEEP_TMP:-0}
GATEWAY_BIN=${GATEWAY_BIN:-}
GATEWAY_EXTRA_ARGS=${GATEWAY_EXTRA_ARGS:-}
# Our gateway's tokio worker threads. On the 2-CPU machine this script was written for,
# wrk (2 threads) and the backend need CPU too: one worker avoids oversubscribing the
# cores, which otherwise shows as scheduling delay in p99. Empty: one per CPU (the default).
GATEWAY_WORKERS=${GATEWAY_WORKERS-1}

for v in ROUNDS THREADS CONNECTIONS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "ERROR: $v must be a positive integer" >&2; exit 1; }
done

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
OP_DIR=$ROOT/oidc-core/tests/oidc-provider

CLIENT_ID=client-app
CLIENT_SECRET=secret-app-0123456789-0123456789-abcdefghijk
AOIDC_MODULE=/usr/lib/apache2/modules/mod_auth_openidc.so
APACHE_MODULES=/usr/lib/apache2/modules

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Prerequisites
# ---------------------------------------------------------------------------------------------

missing_pkgs=()
command -v curl >/dev/null || missing_pkgs+=(curl)
command -v wrk >/dev/null || missing_pkgs+=(wrk)
{ command -v apache2 >/dev/null || [ -x /usr/sbin/apache2 ]; } || missing_pkgs+=(apache2)
[ -f "$AOIDC_MODULE" ] || missing_pkgs+=(libapache2-mod-auth-openidc)
if [ ${#missing_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing_pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >&2
  else
    die "missing Debian packages: ${missing_pkgs[*]} (apt-get install ${missing_pkgs[*]}, or run this as root)"
  fi
fi
APACHE2=$(command -v apache2 || echo /usr/sbin/apache2)
command -v node >/dev/null || die "missing: node (Node.js >= 20, for the provider and the echo backend)"

if [ ! -d "$OP_DIR/node_modules/oidc-provider" ]; then
  command -v npm >/dev/null || die "missing: npm (to install oidc-provider in $OP_DIR)"
  say "npm ci in oidc-core/tests/oidc-provider"
  (cd "$OP_DIR" && npm ci --no-audit --no-fund >&2)
fi

if [ "$SKIP_OURS" != 1 ] && [ -z "$GATEWAY_BIN" ]; then
  say "cargo build --release -p examples --bin gateway"
  (cd "$ROOT" && cargo build --release -p examples --bin gateway >&2) \
    || die "building our gateway failed (SKIP_OURS=1 runs direct + Apache only)"
  GATEWAY_BIN=$ROOT/target/release/gateway
fi
if [ "$SKIP_OURS" != 1 ]; then
  [ -x "$GATEWAY_BIN" ] || die "no gateway binary at $GATEWAY_BIN"
fi

# ---------------------------------------------------------------------------------------------
# Temp dir, processes, cleanup
# ---------------------------------------------------------------------------------------------

TMP=$(mktemp -d /tmp/sso-bench.XXXXXX)
# Apache's workers run as www-data: they must be able to read what is in here.
chmod 755 "$TMP"
PIDS=()
declare -A WHAT # pid -> what it is
OK=0

# Dies naming any of our processes that is gone (killed from outside, or crashed).
check_alive() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || die "${WHAT[$pid]} (pid $pid) is gone: killed from outside, or crashed${1:+ $1}"
  done
}

cleanup() {
  local status=$?
  set +e
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [ "$OK" = 1 ] && [ "$KEEP_TMP" != 1 ]; then
    rm -rf "$TMP"
  else
    if [ "$OK" != 1 ]; then
      for f in "$TMP"/*.log "$TMP"/apache/error.log; do
        [ -s "$f" ] || continue
        printf -- '--- last lines of %s\n' "$f" >&2
        tail -n 15 "$f" | cut -c1-400 >&2
      done
    fi
    printf 'temp dir kept: %s\n' "$TMP" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Free ports on 127.0.0.1 (held together, then released: a small race we accept).
read -r OP_PORT ECHO_PORT AP_PORT GW_PORT < <(node -e '
  const net = require("net");
  const servers = [0, 1, 2, 3].map(() => net.createServer());
  let n = 0;
  for (const s of servers) s.listen(0, "127.0.0.1", () => {
    if (++n === servers.length) {
      console.log(servers.map((x) => x.address().port).join(" "));
      servers.forEach((x) => x.close());
    }
  });') || die "could not pick free ports"
[ -n "${GW_PORT:-}" ] || die "could not pick free ports"
ISSUER=http://127.0.0.1:$OP_PORT
ECHO=http://127.0.0.1:$ECHO_PORT
AP=http://127.0.0.1:$AP_PORT
GW=http://127.0.0.1:$GW_PORT
AP_REDIRECT=$AP/oidc_redirect
GW_REDIRECT=$GW/oauth2/callback
DIRECT_REDIRECT=http://127.0.0.1/oauth2/callback # registered, nothing listens: we stop there

# Waits (up to $3 s) for the line `READY ...` in file $2 of process $1.
wait_ready_line() {
  local pid=$1 file=$2 secs=$3
  for _ in $(seq $((secs * 10))); do
    grep -q '^READY ' "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || die "$file: process $pid exited before it was ready"
    sleep 0.1
  done
  die "$file: not ready after ${secs}s"
}

# Waits (up to $3 s) until GET $2 answers 200, while process $1 lives.
wait_http_200() {
  local pid=$1 url=$2 secs=$3 code=none
  for _ in $(seq $((secs * 10))); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
    [ "$code" = 200 ] && return 0
    kill -0 "$pid" 2>/dev/null || die "process $pid exited before $url answered 200"
    sleep 0.1
  done
  die "$url: no 200 after ${secs}s (last status $code)"
}

say "temp dir $TMP; ports: provider $OP_PORT, echo $ECHO_PORT, apache $AP_PORT, ours $GW_PORT"

# ---------------------------------------------------------------------------------------------
# Echo backend and OpenID Provider
# ---------------------------------------------------------------------------------------------

ECHO_PORT=$ECHO_PORT node "$BENCH/echo.mjs" >"$TMP/echo.out" 2>"$TMP/echo.log" &
ECHO_PID=$!
PIDS+=("$ECHO_PID")
WHAT[$ECHO_PID]="the echo backend"

mkdir -m 755 "$TMP/keys"
OP_PORT=$OP_PORT OP_KEY_DIR=$TMP/keys OP_REDIRECT_URIS="$AP_REDIRECT $GW_REDIRECT" \
  node "$BENCH/provider.mjs" >"$TMP/provider.out" 2>"$TMP/provider.log" &
OP_PID=$!
PIDS+=("$OP_PID")
WHAT[$OP_PID]="the OpenID Provider"

wait_ready_line "$ECHO_PID" "$TMP/echo.out" 20
wait_ready_line "$OP_PID" "$TMP/provider.out" 30
wait_http_200 "$OP_PID" "$ISSUER/.well-known/openid-configuration" 10
KID=$(cat "$TMP/keys/signing.kid")
TOKEN_ENDPOINT=$(curl -sf "$ISSUER/.well-known/openid-configuration" \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).token_endpoint))')
AUTH_ENDPOINT=$(curl -sf "$ISSUER/.well-known/openid-configuration" \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).authorization_endpoint))')

# ---------------------------------------------------------------------------------------------
# Apache httpd + mod_auth_openidc
# ---------------------------------------------------------------------------------------------

mkdir -m 755 "$TMP/apache" "$TMP/apache/run"
# Threads per Apache child: at least one per wrk connection, plus a few (see below).
AP_THREADS=$((CONNECTIONS + 16 > 64 ? CONNECTIONS + 16 : 64))
AP_CONF=$TMP/apache/httpd.conf
if [ "$(id -u)" = 0 ]; then
  AP_USER="User www-data
Group www-data"
else
  AP_USER="# not root: the workers run as $(id -un)"
fi
cat >"$AP_CONF" <<EOF
# Generated by bench/compare.sh
ServerRoot "$TMP/apache"
ServerName 127.0.0.1
Listen 127.0.0.1:$AP_PORT
$AP_USER
PidFile "$TMP/apache/run/httpd.pid"
DefaultRuntimeDir "$TMP/apache/run"
Mutex file:$TMP/apache/run default
ErrorLog "$TMP/apache/error.log"
LogLevel warn
# Access log off: no CustomLog / TransferLog.

LoadModule mpm_event_module $APACHE_MODULES/mod_mpm_event.so
LoadModule authn_core_module $APACHE_MODULES/mod_authn_core.so
LoadModule authz_core_module $APACHE_MODULES/mod_authz_core.so
LoadModule authz_user_module $APACHE_MODULES/mod_authz_user.so
LoadModule proxy_module $APACHE_MODULES/mod_proxy.so
LoadModule proxy_http_module $APACHE_MODULES/mod_proxy_http.so
LoadModule auth_openidc_module $AOIDC_MODULE

# mpm_event with a fixed pool: 2 children of $AP_THREADS threads, so that each child alone has a
# worker for every wrk connection. With Debian's defaults (children of 25 threads, spawned and
# reaped on demand) a child whose workers are all busy, or that is being reaped, closes
# keep-alive connections, and wrk counts read errors.
StartServers 2
ServerLimit 2
ThreadLimit $AP_THREADS
ThreadsPerChild $AP_THREADS
MaxRequestWorkers $((2 * AP_THREADS))
MinSpareThreads 16
MaxSpareThreads $((2 * AP_THREADS))
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 60
Timeout 60

# --- mod_auth_openidc: the same relying party (client-app) as our gateway
OIDCProviderMetadataURL $ISSUER/.well-known/openid-configuration
OIDCSSLValidateServer Off
OIDCClientID $CLIENT_ID
OIDCClientSecret $CLIENT_SECRET
OIDCRedirectURI $AP_REDIRECT
OIDCCryptoPassphrase $(head -c 32 /dev/urandom | base64 | tr -d '\n=+/')
OIDCScope "openid email profile"
OIDCPKCEMethod S256
OIDCSessionInactivityTimeout 3600
# Bearer JWTs: verified locally against the provider's signing key (no http JWKS URI allowed).
OIDCOAuthVerifyCertFiles $KID#$TMP/keys/signing.pem

# Backend connections are pooled; close idle ones long before the backend would.
ProxyPass /oidc_redirect !
ProxyPass / $ECHO/ ttl=60
ProxyPassReverse / $ECHO/

# The redirect URI (callback) and the session-cookie scenario: a login session.
<Location /oidc_redirect>
  AuthType openid-connect
  Require valid-user
</Location>
<Location /app/>
  AuthType openid-connect
  Require valid-user
</Location>

# The bearer scenario: an RS256 ID token of client-app from this issuer.
<Location /api/>
  AuthType oauth20
  <RequireAll>
    Require claim aud:$CLIENT_ID
    Require claim iss:$ISSUER
  </RequireAll>
</Location>

# The plain-proxy scenario: no authentication.
<Location /plain/>
  Require all granted
</Location>
EOF
chmod -R a+rX "$TMP/apache" "$TMP/keys"

"$APACHE2" -d "$TMP/apache" -f "$AP_CONF" -t >"$TMP/apache-configtest.log" 2>&1 \
  || { cat "$TMP/apache-configtest.log" >&2; die "Apache rejects its configuration"; }
"$APACHE2" -d "$TMP/apache" -f "$AP_CONF" -DFOREGROUND >"$TMP/apache.log" 2>&1 &
AP_PID=$!
PIDS+=("$AP_PID")
WHAT[$AP_PID]="Apache httpd"
wait_http_200 "$AP_PID" "$AP/plain/" 20

# ---------------------------------------------------------------------------------------------
# Our gateway
# ---------------------------------------------------------------------------------------------

if [ "$SKIP_OURS" != 1 ]; then
  COOKIE_SECRET=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
  # No per-request log line: Apache runs with its access log off too.
  # shellcheck disable=SC2086 # GATEWAY_EXTRA_ARGS is word-split on purpose
  env ${GATEWAY_WORKERS:+TOKIO_WORKER_THREADS="$GATEWAY_WORKERS"} \
  "$GATEWAY_BIN" --http-address="127.0.0.1:$GW_PORT" --upstream="$ECHO/" \
    --provider=oidc --oidc-issuer-url="$ISSUER" --client-id="$CLIENT_ID" \
    --client-secret="$CLIENT_SECRET" --cookie-secret="$COOKIE_SECRET" \
    --cookie-secure=false --redirect-url="$GW_REDIRECT" --email-domain='*' \
    --skip-jwt-bearer-tokens --skip-auth-route='^/plain/' \
    --request-logging=false $GATEWAY_EXTRA_ARGS \
    >"$TMP/gateway.log" 2>&1 &
  GW_PID=$!
  PIDS+=("$GW_PID")
  WHAT[$GW_PID]="our gateway"
  wait_http_200 "$GW_PID" "$GW/ready" 30
fi

# ---------------------------------------------------------------------------------------------
# Logins (curl + cookie jars, driving the provider's login and consent forms)
# ---------------------------------------------------------------------------------------------

# curl 7.88 keeps (and sends again) cookies that a Set-Cookie expired: drop them from the jar.
prune_jar() {
  local jar=$1 now
  [ -f "$jar" ] || return 0
  now=$(date +%s)
  awk -v now="$now" -F'\t' '
    /^#HttpOnly_/ || !/^#/ { if (NF >= 7 && $5 != 0 && $5 < now) next }
    { print }' "$jar" >"$jar.tmp" && mv "$jar.tmp" "$jar"
}

# curl 7.88 ignores a Set-Cookie that deletes a cookie with an expiry in the past (1970) and
# keeps sending the old value, which a browser would not: drop the cookies that the response
# headers in file $2 delete from jar $1.
apply_deletions() {
  local jar=$1 hdr=$2 line name attrs exp when now path
  now=$(date +%s)
  while IFS= read -r line; do
    line=${line%$'\r'}
    name=${line#*: }
    name=${name%%=*}
    attrs=$(printf '%s' "${line#*;}" | tr '[:upper:]' '[:lower:]')
    if [[ $attrs =~ max-age=(-?[0-9]+) ]] && [ "${BASH_REMATCH[1]}" -le 0 ]; then
      :
    elif [[ $attrs =~ expires=([^\;]+) ]]; then
      exp=${BASH_REMATCH[1]}
      when=$(date -d "$exp" +%s 2>/dev/null || echo "$now")
      [ "$when" -lt "$now" ] || continue
    else
      continue
    fi
    [ -f "$jar" ] || continue
    # The same name may live on under another path (oidc-provider's per-interaction cookies).
    path=""
    if [[ ${line#*;} =~ [Pp][Aa][Tt][Hh]=([^\;]+) ]]; then path=${BASH_REMATCH[1]}; fi
    awk -v n="$name" -v p="$path" -F'\t' \
      '!((/^#HttpOnly_/ || !/^#/) && NF >= 7 && $6 == n && (p == "" || $3 == p))' "$jar" >"$jar.tmp" \
      && mv "$jar.tmp" "$jar"
  done < <(grep -i '^set-cookie:' "$hdr" || true)
}

# `Cookie:` header value from jar $1 with the live cookies whose name matches regex $2.
cookie_header() {
  local jar=$1 re=$2 now
  now=$(date +%s)
  awk -v now="$now" -v re="$re" -F'\t' '
    (/^#HttpOnly_/ || !/^#/) && NF >= 7 {
      if ($5 != 0 && $5 < now) next
      if ($6 ~ re) { out = out (out == "" ? "" : "; ") $6 "=" $7 }
    }
    END { print out }' "$jar"
}

# absolute URL of Location $2 relative to URL $1
resolve_url() {
  case $2 in
    http://* | https://*) printf '%s\n' "$2" ;;
    /*) printf '%s\n' "$(printf '%s' "$1" | sed -E 's#^(https?://[^/]+).*#\1#')$2" ;;
    *) printf '%s\n' "$(printf '%s' "$1" | sed -E 's#[^/]*$##')$2" ;;
  esac
}

# browse JAR START_URL STOP_PREFIX LOGIN NAME
# Follows redirects and submits the forms shown (login, consent) like a browser. Stops and
# prints the URL either at a redirect to STOP_PREFIX (when not empty) or at a 2xx page that
# has no form (prints that page's URL; its body is in $TMP/NAME.body).
browse() {
  local jar=$1 url=$2 stop=$3 login=$4 name=$5
  local method=GET data="" code loc form
  local hdr=$TMP/$name.hdr body=$TMP/$name.body
  for _ in $(seq 25); do
    prune_jar "$jar"
    local args=(-sS -o "$body" -D "$hdr" -w '%{http_code}' -b "$jar" -c "$jar" --max-time 20
      -H 'Accept: text/html,application/xhtml+xml')
    if [ "$method" = POST ]; then
      args+=(-X POST -H 'Content-Type: application/x-www-form-urlencoded' --data-raw "$data")
    fi
    printf '%s %s %s\n' "$name" "$method" "$url" >>"$TMP/logins.log"
    code=$(curl "${args[@]}" "$url") || { echo "curl failed on $url" >&2; return 1; }
    apply_deletions "$jar" "$hdr"
    { printf '  -> %s\n' "$code"; sed 's/^/     /' "$hdr"; } >>"$TMP/logins.log"
    case $code in
      301 | 302 | 303 | 307 | 308)
        loc=$(grep -i '^location:' "$hdr" | tail -n 1 | sed -E 's/^[Ll]ocation:[[:space:]]*//' | tr -d '\r')
        [ -n "$loc" ] || { echo "$code without Location at $url" >&2; return 1; }
        loc=$(resolve_url "$url" "$loc")
        if [ -n "$stop" ] && [ "${loc#"$stop"}" != "$loc" ]; then
          prune_jar "$jar"
          printf '%s\n' "$loc"
          return 0
        fi
        url=$loc method=GET data=""
        ;;
      *)
        if form=$(node "$BENCH/form.mjs" "$body" "$url" "$login" 2>/dev/null); then
          method=$(sed -n 1p <<<"$form")
          url=$(sed -n 2p <<<"$form")
          data=$(sed -n 3p <<<"$form")
          if [ "$method" = GET ] && [ -n "$data" ]; then
            url="$url$([ "${url#*\?}" = "$url" ] && echo '?' || echo '&')$data" data=""
          fi
        elif [ "${code:0:1}" = 2 ] && [ -z "$stop" ]; then
          prune_jar "$jar"
          printf '%s\n' "$url"
          return 0
        else
          echo "unexpected $code at $url: $(head -c 300 "$body")" >&2
          return 1
        fi
        ;;
    esac
  done
  echo "too many steps from $2" >&2
  return 1
}

# 1. An ID token (aud=client-app) straight from the provider: authorization code flow to the
#    registered redirect URI that nothing listens on, then the token request.
say "login: direct code flow for an ID token"
VERIFIER=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
CHALLENGE=$(printf '%s' "$VERIFIER" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=\n')
AUTH_URL="$AUTH_ENDPOINT?client_id=$CLIENT_ID&response_type=code&scope=openid%20email%20profile"
AUTH_URL+="&redirect_uri=$(node -p 'encodeURIComponent(process.argv[1])' "$DIRECT_REDIRECT")"
AUTH_URL+="&state=bench-state-$RANDOM$RANDOM&nonce=bench-nonce-$RANDOM$RANDOM"
AUTH_URL+="&code_challenge=$CHALLENGE&code_challenge_method=S256"
CB=$(browse "$TMP/direct.jar" "$AUTH_URL" "$DIRECT_REDIRECT" bench-user direct) \
  || die "direct login failed"
CODE=$(node -p 'new URL(process.argv[1]).searchParams.get("code") || ""' "$CB")
[ -n "$CODE" ] || die "no code in $CB"
curl -sS -u "$CLIENT_ID:$CLIENT_SECRET" -o "$TMP/token.json" -w '%{http_code}' \
  --data-urlencode grant_type=authorization_code --data-urlencode "code=$CODE" \
  --data-urlencode "redirect_uri=$DIRECT_REDIRECT" --data-urlencode "code_verifier=$VERIFIER" \
  "$TOKEN_ENDPOINT" >"$TMP/token.status"
[ "$(cat "$TMP/token.status")" = 200 ] || die "token request: $(cat "$TMP/token.status") $(cat "$TMP/token.json")"
ID_TOKEN=$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1])).id_token || ""' "$TMP/token.json")
[ -n "$ID_TOKEN" ] || die "no id_token in the token response"
# shellcheck disable=SC2016 # JavaScript, not shell
node -e '
  const [h, p] = process.argv[1].split(".").slice(0, 2).map((s) => JSON.parse(Buffer.from(s, "base64url")));
  const aud = [].concat(p.aud);
  if (!aud.includes(process.argv[2])) { console.error("ID token aud", p.aud); process.exit(1); }
  console.error(`    ID token: alg ${h.alg}, kid ${h.kid}, aud ${p.aud}, sub ${p.sub}, email ${p.email}, ${p.exp - p.iat}s`);
' "$ID_TOKEN" "$CLIENT_ID" || die "the ID token is not for $CLIENT_ID"

# 2. Apache: a login session (mod_auth_openidc_session cookie).
say "login: Apache + mod_auth_openidc"
browse "$TMP/apache.jar" "$AP/app/" "" bench-user apache >/dev/null || die "login through Apache failed"
AP_COOKIE=$(cookie_header "$TMP/apache.jar" '^mod_auth_openidc_session(_chunks|_[0-9]+)?$')
[ -n "$AP_COOKIE" ] || die "no mod_auth_openidc_session cookie after the Apache login"

# 3. Ours: a login session (_oauth2_proxy cookie, maybe chunked).
if [ "$SKIP_OURS" != 1 ]; then
  say "login: our gateway"
  browse "$TMP/ours.jar" "$GW/app/" "" bench-user ours >/dev/null || die "login through our gateway failed"
  GW_COOKIE=$(cookie_header "$TMP/ours.jar" '^_oauth2_proxy(_[0-9]+)?$')
  [ -n "$GW_COOKIE" ] || die "no _oauth2_proxy cookie after the login through our gateway"
  # What the upstream sees (informational: the gateway should pass the ID token on).
  curl -s -H "Cookie: $GW_COOKIE" "$GW/app/__headers" >"$TMP/ours-upstream-headers.json" || true
  # shellcheck disable=SC2016 # JavaScript, not shell
  node -e '
    const h = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const m = /^Bearer (.+)$/.exec(h.authorization || "");
    if (!m) { console.error("    note: the upstream got no Authorization: Bearer header from our gateway"); process.exit(0); }
    const p = JSON.parse(Buffer.from(m[1].split(".")[1], "base64url"));
    console.error(`    upstream Authorization: Bearer <JWT aud ${p.aud}, sub ${p.sub}>`);
  ' "$TMP/ours-upstream-headers.json" 2>&1 >&2 || echo "    note: could not read what the upstream got" >&2
fi

# ---------------------------------------------------------------------------------------------
# Scenarios: sanity checks, then wrk
# ---------------------------------------------------------------------------------------------

# status URL [curl args...]: the HTTP status of one GET
status() {
  local url=$1
  shift
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" "$url" || true
}

expect() { # expect WANT WHAT URL [curl args...]; WANT: a status or statuses like 401|302
  local want=$1 what=$2 url=$3 got
  shift 3
  got=$(status "$url" "$@")
  [[ "|$want|" == *"|$got|"* ]] || die "$what: expected $want, got $got ($url)"
}

check_alive "before the sanity checks"
say "sanity checks"
expect 200 "direct backend" "$ECHO/plain/"
expect 200 "Apache plain" "$AP/plain/"
expect 200 "Apache session" "$AP/app/" -H "Cookie: $AP_COOKIE"
expect 302 "Apache session, no cookie (must redirect to login)" "$AP/app/" -H 'Accept: text/html'
expect 200 "Apache bearer" "$AP/api/" -H "Authorization: Bearer $ID_TOKEN"
expect "401|403" "Apache bearer, bad signature (must refuse)" "$AP/api/" -H "Authorization: Bearer ${ID_TOKEN%?????}AAAAA"
expect "401|302|303" "Apache bearer, no token (must refuse)" "$AP/api/"
if [ "$SKIP_OURS" != 1 ]; then
  expect 200 "ours plain" "$GW/plain/"
  expect 200 "ours session" "$GW/app/" -H "Cookie: $GW_COOKIE"
  expect 302 "ours session, no cookie (must redirect to login)" "$GW/app/" -H 'Accept: text/html'
  expect 200 "ours bearer" "$GW/api/" -H "Authorization: Bearer $ID_TOKEN"
  expect "401|403" "ours bearer, bad signature (must refuse)" "$GW/api/" -H "Authorization: Bearer ${ID_TOKEN%?????}AAAAA"
  expect "401|302|303" "ours bearer, no token (must refuse)" "$GW/api/"
fi

# Results: NAME -> "rps p50_us p99_us p50_text p99_text" (the median round);
# RUNS: NAME#ROUND -> the same for each round.
declare -A RES RUNS

to_us() { # wrk latency text (e.g. 812.00us, 1.23ms, 1.01s) -> microseconds
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) m = 1; else if (v ~ /ms$/) m = 1000; else if (v ~ /m$/) m = 60000000;
    else if (v ~ /s$/) m = 1000000; else m = 1
    printf "%.1f", n * m }'
}

# bench NAME URL [wrk args...]: warm-up run, measured run, checks, stores the result.
bench() {
  local name=$1 url=$2 out=$TMP/wrk-$1.round$ROUND.txt
  shift 2
  if [ "$WARMUP" != 0 ]; then
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$@" "$url" >"$TMP/wrk-$name.warmup.txt" 2>&1 \
      || die "$name: wrk warm-up failed: $(cat "$TMP/wrk-$name.warmup.txt")"
  fi
  say "wrk $name (round $ROUND/$ROUNDS): $url (${DURATION}, ${THREADS} threads, ${CONNECTIONS} connections)"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url" >"$out" 2>&1 \
    || die "$name: wrk failed: $(cat "$out")"
  check_alive "during the $name run"
  local rps p50 p99 non2xx sock requests
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  p50=$(awk '$1 == "50%" { print $2 }' "$out")
  p99=$(awk '$1 == "99%" { print $2 }' "$out")
  requests=$(awk '/requests in/ { print $1 }' "$out")
  non2xx=$(awk -F': *' '/Non-2xx or 3xx responses/ { print $2 }' "$out")
  sock=$(grep 'Socket errors' "$out" || true)
  if [ -n "$non2xx" ] && [ "$non2xx" != 0 ]; then
    cat "$out" >&2
    die "$name: $non2xx of $requests responses were not 2xx"
  fi
  if [ -n "$sock" ]; then
    cat "$out" >&2
    die "$name: ${sock# *}"
  fi
  { [ -n "$rps" ] && [ -n "$p50" ] && [ -n "$p99" ] && [ "${requests:-0}" -gt 0 ]; } \
    || { cat "$out" >&2; die "$name: cannot read wrk's output"; }
  # wrk counts 3xx as success: check the run's URL still answers 200 (session still valid).
  local after
  after=$(status "$url" "$@")
  [ "$after" = 200 ] || die "$name: after the run the same request answers $after, not 200"
  RUNS[$name#$ROUND]="$rps $(to_us "$p50") $(to_us "$p99") $p50 $p99"
  printf '    %s req/s, p50 %s, p99 %s (%s requests)\n' "$rps" "$p50" "$p99" "$requests" >&2
}

AP_LOG_BEFORE=$(wc -l <"$TMP/apache/error.log")
GW_LOG_BEFORE=$(wc -c <"$TMP/gateway.log" 2>/dev/null || echo 0)
for ROUND in $(seq "$ROUNDS"); do
  bench direct "$ECHO/plain/"
  bench apache-plain "$AP/plain/"
  [ "$SKIP_OURS" = 1 ] || bench ours-plain "$GW/plain/"
  bench apache-session "$AP/app/" -H "Cookie: $AP_COOKIE"
  [ "$SKIP_OURS" = 1 ] || bench ours-session "$GW/app/" -H "Cookie: $GW_COOKIE"
  bench apache-bearer "$AP/api/" -H "Authorization: Bearer $ID_TOKEN"
  [ "$SKIP_OURS" = 1 ] || bench ours-bearer "$GW/api/" -H "Authorization: Bearer $ID_TOKEN"
done

# Each scenario's median round (by req/s); with an even count, the lower middle.
for name in direct apache-plain ours-plain apache-session ours-session apache-bearer ours-bearer; do
  [ -n "${RUNS[$name#1]:-}" ] || continue
  RES[$name]=$(for r in $(seq "$ROUNDS"); do printf '%s\n' "${RUNS[$name#$r]}"; done \
    | sort -n -k1,1 | sed -n "$(((ROUNDS + 1) / 2))p")
done

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

field() { # field NAME INDEX(1-5)
  local v=${RES[$1]:-}
  [ -n "$v" ] || return 0
  awk -v i="$2" '{ print $i }' <<<"$v"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

DIRECT_RPS=$(field direct 1)
echo
echo "## SSO gateway benchmark: ours vs Apache httpd + mod_auth_openidc"
echo
echo "Commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (work tree modified)');" \
  "$([ "$SKIP_OURS" = 1 ] && echo 'our gateway skipped (SKIP_OURS=1)' || echo "our gateway: $GATEWAY_BIN")."
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (warm-up $WARMUP), median of $ROUNDS round(s), $(nproc) CPUs shared by wrk, servers and backend; our gateway with ${GATEWAY_WORKERS:-one per CPU} worker thread(s);" \
  "$(apache2 -v 2>/dev/null | sed -n 's/^Server version: //p'), mod_auth_openidc $(dpkg-query -W -f '${Version}' libapache2-mod-auth-openidc 2>/dev/null || echo '?')."
echo
echo "| scenario | server | req/s | p50 | p99 | vs direct | ours/Apache req/s |"
echo "|---|---|---:|---:|---:|---:|---:|"
row() { # row SCENARIO SERVER NAME [APACHE_NAME]
  local scen=$1 server=$2 name=$3 ap=${4:-}
  if [ -z "${RES[$name]:-}" ]; then
    echo "| $scen | $server | skipped | | | | |"
    return
  fi
  local rps vs oa=""
  rps=$(field "$name" 1)
  vs=$(ratio "$rps" "$DIRECT_RPS")
  if [ -n "$ap" ] && [ -n "${RES[$ap]:-}" ]; then oa="$(ratio "$rps" "$(field "$ap" 1)")x"; fi
  printf '| %s | %s | %.0f | %s | %s | %s | %s |\n' "$scen" "$server" "$rps" \
    "$(field "$name" 4)" "$(field "$name" 5)" "$vs" "$oa"
}
row "direct backend" "-" direct
row "plain proxy (no auth)" "Apache" apache-plain
row "plain proxy (no auth)" "ours" ours-plain apache-plain
row "session cookie" "Apache" apache-session
row "session cookie" "ours" ours-session apache-session
row "bearer JWT" "Apache" apache-bearer
row "bearer JWT" "ours" ours-bearer apache-bearer
echo

echo "### Targets"
if [ "$SKIP_OURS" = 1 ]; then
  echo "SKIP  ours >= 2x Apache req/s with lower p99 (session cookie): SKIP_OURS=1"
  echo "SKIP  ours >= 2x Apache req/s with lower p99 (bearer JWT): SKIP_OURS=1"
  echo "SKIP  our auth costs < 10 % of our plain-proxy req/s: SKIP_OURS=1"
else
  for kind in session bearer; do
    o_rps=$(field "ours-$kind" 1) a_rps=$(field "apache-$kind" 1)
    o_p99=$(field "ours-$kind" 3) a_p99=$(field "apache-$kind" 3)
    verdict=$(awk -v o="$o_rps" -v a="$a_rps" -v op="$o_p99" -v ap="$a_p99" \
      'BEGIN { print (o >= 2 * a && op < ap) ? "PASS" : "MISS" }')
    printf '%s  %s: ours %.0f req/s = %sx Apache %.0f (target >= 2x); p99 ours %s vs Apache %s (target lower)\n' \
      "$verdict" "$kind" "$o_rps" "$(ratio "$o_rps" "$a_rps")" "$a_rps" \
      "$(field "ours-$kind" 5)" "$(field "apache-$kind" 5)"
  done
  plain=$(field ours-plain 1)
  for kind in session bearer; do
    o_rps=$(field "ours-$kind" 1)
    cost=$(awk -v p="$plain" -v o="$o_rps" 'BEGIN { printf "%.1f", (p - o) * 100 / p }')
    verdict=$(awk -v c="$cost" 'BEGIN { print (c < 10) ? "PASS" : "MISS" }')
    printf '%s  %s auth cost: ours %.0f req/s vs ours plain proxy %.0f: 1 - auth/plain = %s %% (target < 10 %%)\n' \
      "$verdict" "$kind" "$o_rps" "$plain" "$cost"
  done
fi

# Logging during the runs costs the server its share of the CPU: say how much there was.
echo
logged="Logged during the wrk runs: Apache error log $(($(wc -l <"$TMP/apache/error.log") - AP_LOG_BEFORE)) lines"
[ "$SKIP_OURS" = 1 ] || logged+="; our gateway $(($(wc -c <"$TMP/gateway.log") - GW_LOG_BEFORE)) bytes on stderr"
echo "$logged."

OK=1
