#!/usr/bin/env sh
# Renders manifests/overlays/dev for a mignet running on this machine: every webhook calls DEV_URL
# (default https://host.crc.testing:8443) and trusts the CA in certs/ca.crt (CA=...).
#
#   hack/dev-manifests.sh [OUT]      OUT defaults to target/dev-manifests.yaml; "-" is stdout
#   DEV_URL=https://172.18.0.1:8443 make dev-manifests
#
# The serving certificate must name the host of DEV_URL, and mignet must listen where the API
# server can reach it:
#   mignet certs --out certs --force --san localhost --san 127.0.0.1 --san HOST
#   mignet serve --addr 0.0.0.0:8443 --cert certs/tls.crt --key certs/tls.key ...
set -eu
cd "$(dirname "$0")/.."

overlay=manifests/overlays/dev
committed_url=https://host.crc.testing:8443
url=${DEV_URL:-$committed_url}
url=${url%/}
ca=${CA:-certs/ca.crt}
out=${1:-target/dev-manifests.yaml}

fail() {
  echo "dev-manifests: $*" >&2
  exit 1
}

case $url in
  https://?*) ;;
  *) fail "DEV_URL must be https://HOST[:PORT] (the API server calls webhooks over TLS only), got '$url'" ;;
esac
authority=${url#https://}
case $authority in
  */* | *\?* | *#*) fail "DEV_URL must have no path ('$url'): /validate and /mutate are appended" ;;
esac
case $authority in
  \[*) host=${authority#\[}; host=${host%%]*} ;;
  *) host=${authority%%:*} ;;
esac

[ -s "$ca" ] || fail "$ca not found: create development certificates naming $host first:
  mignet certs --out $(dirname "$ca") --san localhost --san 127.0.0.1 --san $host"
grep -q 'BEGIN CERTIFICATE' "$ca" || fail "$ca is not a PEM certificate"
cert=$(dirname "$ca")/tls.crt
case $host in
  *:*) check_san=no ;; # openssl spells IPv6 addresses its own way
  *) check_san=yes ;;
esac
if [ "$check_san" = yes ] && [ -s "$cert" ] && command -v openssl >/dev/null 2>&1; then
  if ! openssl x509 -in "$cert" -noout -ext subjectAltName 2>/dev/null |
    tr ',' '\n' | sed 's/^ *//' | grep -q -x -F -e "DNS:$host" -e "IP Address:$host"; then
    echo "dev-manifests: warning: $cert does not name $host; the API server will refuse it:" >&2
    echo "  mignet certs --out $(dirname "$ca") --force --san localhost --san 127.0.0.1 --san $host" >&2
  fi
fi

if [ -n "${KUBECTL:-}" ]; then
  render="$KUBECTL kustomize"
elif command -v kubectl >/dev/null 2>&1; then
  render="kubectl kustomize"
elif command -v oc >/dev/null 2>&1; then
  render="oc kustomize"
elif command -v kustomize >/dev/null 2>&1; then
  render="kustomize build"
else
  fail "needs kubectl, oc or kustomize to render $overlay"
fi

errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
rendered=$($render "$overlay" 2>"$errors") || {
  cat "$errors" >&2
  fail "$render $overlay failed"
}
bundle=$(base64 <"$ca" | tr -d '\n')

# Point every webhook at DEV_URL and add the caBundle as the first key of each clientConfig.
result=$(printf '%s\n' "$rendered" | awk -v from="url: $committed_url/" -v to="url: $url/" -v bundle="$bundle" '
  {
    line = $0
    i = index(line, from)
    if (i > 0) {
      line = substr(line, 1, i - 1) to substr(line, i + length(from))
      urls++
    }
    print line
  }
  /^ *clientConfig:$/ {
    match($0, /^ */)
    printf "%s  caBundle: %s\n", substr($0, 1, RLENGTH), bundle
    configs++
  }
  END {
    if (configs == 0 || urls != configs) {
      printf "dev-manifests: %d clientConfigs, %d of them with the overlay URL\n", configs, urls > "/dev/stderr"
      exit 1
    }
  }
') || fail "unexpected output from $render $overlay"

if [ "$out" = - ]; then
  printf '%s\n' "$result"
else
  mkdir -p "$(dirname "$out")"
  printf '%s\n' "$result" >"$out.tmp"
  mv "$out.tmp" "$out"
  echo "wrote $out: webhooks call $url and trust $ca" >&2
  echo "apply with: kubectl apply -f $out" >&2
fi
