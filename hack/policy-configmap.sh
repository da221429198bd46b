#!/usr/bin/env sh
# Writes manifests/base/policy-configmap.yaml: the default policy (src/policy/default-policy.yaml),
# verbatim, as the ConfigMap mignet serve reads with --policy. Run it after changing the default
# policy; tests/manifests.rs fails while the two differ.
set -eu
cd "$(dirname "$0")/.."
src=src/policy/default-policy.yaml
out=manifests/base/policy-configmap.yaml
{
  echo "# The default policy, written by hack/policy-configmap.sh from $src."
  echo "# Replace it in your own overlay (see the README). mignet re-reads it within seconds of a"
  echo "# change, without a restart; a policy that fails to load is logged and the one in force kept."
  echo "apiVersion: v1"
  echo "kind: ConfigMap"
  echo "metadata:"
  echo "  name: mignet-policy"
  echo "  namespace: mignet-system"
  echo "  labels:"
  echo "    app.kubernetes.io/name: mignet"
  echo "data:"
  echo "  policy.yaml: |"
  sed -e 's/^\(.\)/    \1/' "$src"
} > "$out"
echo "wrote $out"
