#!/usr/bin/env bash
# "Build Custom Authentication Using Appsmith and APISIX", backend part, step
# by step against Tollgate with the same Admin API calls the tutorial makes.
#
#   node examples/mock-upstream.mjs &     # the backend, on 127.0.0.1:1980
#   npm start &                           # the gateway, or a cluster
#   bash examples/tutorial.sh
#
# Settings (environment):
#   ADMIN_URL       Admin API base          (http://127.0.0.1:9180)
#   ADMIN_KEY       X-API-KEY               (read from data/admin.key if unset)
#   GATEWAY_URLS    data-plane nodes, comma-separated (http://127.0.0.1:9080);
#                   the token from the first node is used on all of them
#   UPSTREAM_NODE   the mock backend        (127.0.0.1:1980)
#   EMAIL, USERNAME the user who registers  (user@example.com, appsmithuser)
set -euo pipefail

ADMIN_URL=${ADMIN_URL:-http://127.0.0.1:9180}
GATEWAY_URLS=${GATEWAY_URLS:-http://127.0.0.1:9080}
UPSTREAM_NODE=${UPSTREAM_NODE:-127.0.0.1:1980}
EMAIL=${EMAIL:-user@example.com}
USERNAME=${USERNAME:-appsmithuser}
SECRET=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
if [ -z "${ADMIN_KEY:-}" ] && [ -f data/admin.key ]; then
  ADMIN_KEY=$(cat data/admin.key)
fi
: "${ADMIN_KEY:?set ADMIN_KEY: it was printed at first start and kept in data/admin.key}"
IFS=', ' read -r -a GATEWAYS <<<"$GATEWAY_URLS"
GATEWAY=${GATEWAYS[0]}
BODY=$(mktemp)
trap 'rm -f "$BODY"' EXIT

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }

# admin METHOD PATH [JSON] -> prints the status, leaves the body in $BODY
admin() {
  curl -sS -o "$BODY" -w '%{http_code}' -X "$1" "$ADMIN_URL/apisix/admin$2" \
    -H "X-API-KEY: $ADMIN_KEY" ${3:+-d "$3"}
}

# expect STATUS COMMAND... : runs the command (which prints a status) and checks it
expect() {
  local want=$1 got
  shift
  got=$("$@")
  [ "$got" = "$want" ] || fail "$* answered $got, expected $want: $(cat "$BODY")"
  printf '%s %s\n' "$got" "$(head -c 300 "$BODY")"
}

# call URL [TOKEN] -> GET through the gateway, prints the status
call() {
  curl -sS -o "$BODY" -w '%{http_code}' "$1" ${2:+-H "Authorization: $2"}
}

# eventually STATUS URL [TOKEN] : data-plane nodes apply writes within moments
eventually() {
  for _ in $(seq 1 50); do
    [ "$(call "$2" "${3:-}")" = "$1" ] && { printf '%s %s\n' "$1" "$(head -c 300 "$BODY")"; return; }
    sleep 0.1
  done
  fail "GET $2 never answered $1 (last: $(cat "$BODY"))"
}

# login EMAIL -> prints a token from the sign endpoint
login() {
  for _ in $(seq 1 50); do
    [ "$(call "$GATEWAY/login?key=$1")" = 200 ] && { cat "$BODY"; return; }
    sleep 0.1
  done
  fail "login for $1 failed: $(cat "$BODY")"
}

step "1. The upstream: the mock API"
admin PUT /upstreams/1 '{
  "name": "Mock API upstream",
  "desc": "Register Mock API as the upstream",
  "type": "roundrobin",
  "scheme": "http",
  "nodes": {"'"$UPSTREAM_NODE"'": 1}
}' >/dev/null
expect 200 admin GET /upstreams/1

step "2. A plugin config that turns on jwt-auth"
admin PUT /plugin_configs/1 '{"plugins": {"jwt-auth": {}}}' >/dev/null
expect 200 admin GET /plugin_configs/1

step "3. Route 1: GET /ip, protected"
admin PUT /routes/1 '{
  "name": "Mock API server route",
  "desc": "Create a new route in APISIX for the mock server endpoint",
  "methods": ["GET"],
  "uri": "/ip",
  "plugin_config_id": 1,
  "upstream_id": 1
}' >/dev/null
expect 200 admin GET /routes/1

step "4. Route login: /login exposes the JWT sign endpoint"
admin PUT /routes/login '{
  "uri": "/login",
  "plugins": {"public-api": {"uri": "/apisix/plugin/jwt/sign"}}
}' >/dev/null
expect 200 admin GET /routes/login

step "5. Register: a consumer with jwt-auth credentials"
admin PUT /consumers '{
  "username": "'"$USERNAME"'",
  "plugins": {"jwt-auth": {"key": "'"$EMAIL"'", "secret": "'"$SECRET"'"}}
}' >/dev/null
expect 200 admin GET "/consumers/$USERNAME"

step "6. Login: GET /login?key=<email> returns a token"
TOKEN=$(login "$EMAIL")
echo "token: ${TOKEN:0:24}..."

step "7. Main page: GET /ip with the token, on every node"
for gw in "${GATEWAYS[@]}"; do
  eventually 200 "$gw/ip" "$TOKEN"
  grep -q '"origin"' "$BODY" || fail "$gw/ip did not return the upstream's JSON"
done

step "7a. Without a token: 401"
for gw in "${GATEWAYS[@]}"; do expect 401 call "$gw/ip"; done

step "7b. A forged token (claims changed, signature kept): 401"
b64url() { base64 | tr '+/' '-_' | tr -d '=\n'; }
IFS=. read -r HEADER _ SIGNATURE <<<"$TOKEN"
FORGED="$HEADER.$(printf '{"key":"%s","exp":4102444800}' "$EMAIL" | b64url).$SIGNATURE"
for gw in "${GATEWAYS[@]}"; do expect 401 call "$gw/ip" "$FORGED"; done

step "7c. An expired token: 401"
admin PUT /consumers/shortlived '{
  "plugins": {"jwt-auth": {"key": "short@example.com", "secret": "'"$SECRET"'x", "exp": 1}}
}' >/dev/null
EXPIRED=$(login short@example.com)
sleep 2
for gw in "${GATEWAYS[@]}"; do expect 401 call "$gw/ip" "$EXPIRED"; done

step "7d. A token whose consumer was deleted: 401 on every node"
admin PUT /consumers/leaver '{
  "plugins": {"jwt-auth": {"key": "leaver@example.com", "secret": "'"$SECRET"'y"}}
}' >/dev/null
LEAVER=$(login leaver@example.com)
for gw in "${GATEWAYS[@]}"; do eventually 200 "$gw/ip" "$LEAVER"; done
expect 200 admin DELETE /consumers/leaver
for gw in "${GATEWAYS[@]}"; do eventually 401 "$gw/ip" "$LEAVER"; done
admin DELETE /consumers/shortlived >/dev/null

printf '\nThe tutorial ran end to end on %s node(s).\n' "${#GATEWAYS[@]}"
