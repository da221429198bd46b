#!/usr/bin/env bash
# The HTML address map at scale: the size of `mignet check --output html` for NADS NADs (10000 by
# default), the time mignet takes to write it, and the time headless Chromium takes to load, lay out
# and paint it. Every figure is printed with what produced it.
#
# Chromium is timed twice: from inside the page (navigation start to the first frame painted after
# the load event, read with a timing script added to a copy of the page whose CSP is dropped; the
# page itself carries no script) and from outside (wall clock of a headless screenshot, less that of
# an empty page, which is the browser's own start-up).
#
# Knobs (environment): NADS (10000), RUNS (5, the median is printed), SKIP_BUILD=1, CHROMIUM (chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

NADS=${NADS:-10000}
RUNS=${RUNS:-5}
CHROMIUM=${CHROMIUM:-chromium}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
MIGNET=$TARGET_DIR/release/mignet

command -v "$CHROMIUM" >/dev/null || { echo "page.sh: needs $CHROMIUM (apt-get install chromium)" >&2; exit 2; }
[[ -n "${SKIP_BUILD:-}" ]] || cargo build --release --locked --bin mignet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# tenant NADs as `oc get net-attach-def -A -o yaml` lists them: /24s over 10.64.0.0/10, one in 20 sharing
# a neighbour's range, one in 20 IPv6, and one overlapping the migration network
python3 - "$NADS" >"$work/nads.yaml" <<'PY'
import json, sys
n = int(sys.argv[1])
print("apiVersion: v1\nkind: List\nitems:")
def nad(ns, name, rng):
    cfg = json.dumps({"cniVersion": "0.3.1", "name": name, "type": "bridge", "bridge": "br1",
                      "ipam": {"type": "whereabouts", "range": rng}})
    print(f"  - apiVersion: k8s.cni.cncf.io/v1\n    kind: NetworkAttachmentDefinition\n"
          f"    metadata:\n      name: {name}\n      namespace: {ns}\n    spec:\n      config: '{cfg}'")
for i in range(n - 1):
    if i % 20 == 19:
        nad(f"tenant-{i % 97}", f"v6-{i}", f"fd10:0:{i // 65536:x}:{i % 65536:x}::/64")
    else:
        j = i - 1 if i % 20 == 7 else i
        nad(f"tenant-{i % 97}", f"net-{i}", f"10.{64 + j // 256}.{j % 256}.0/24")
nad("vms", "squatter", "192.168.99.128/25")
PY

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now_ms() { date +%s%3N; }

args=(check --output html --cluster-state examples/cluster --cluster-state "$work/nads.yaml"
  examples/migration-nad.yaml examples/hyperconverged.yaml)
write_ms=$(for _ in $(seq "$RUNS"); do
  t0=$(now_ms); "$MIGNET" "${args[@]}" >"$work/page.html" || true; echo $(($(now_ms) - t0))
done | median)
bytes=$(wc -c <"$work/page.html")
grep -q 'data-cidr="192.168.99.128/25"' "$work/page.html" || { echo "page.sh: the page misses the overlap" >&2; exit 1; }

sed 's/<meta http-equiv="Content-Security-Policy"[^>]*>//' "$work/page.html" >"$work/timed.html"
cat >>"$work/timed.html" <<'JS'
<script>addEventListener("load",()=>requestAnimationFrame(()=>setTimeout(()=>console.log("PAINTED "+Math.round(performance.now())))));</script>
JS
echo '<!DOCTYPE html><html><body></body></html>' >"$work/empty.html"

chrome() {
  "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --no-first-run --disable-sync --disable-extensions --user-data-dir="$(mktemp -d -p "$work")" "$@"
}
painted_ms=$(for _ in $(seq "$RUNS"); do
  chrome --enable-logging=stderr --v=0 --virtual-time-budget=30000 --dump-dom "file://$work/timed.html" 2>&1 >/dev/null |
    sed -n 's/.*"PAINTED \([0-9]*\)".*/\1/p'
done | median)
wall() {
  for _ in $(seq "$RUNS"); do
    t0=$(now_ms); chrome --window-size=1280,1600 --screenshot="$work/shot.png" "file://$1" >/dev/null 2>&1
    echo $(($(now_ms) - t0))
  done | median
}
empty_ms=$(wall "$work/empty.html")
page_ms=$(wall "$work/page.html")

nproc_=$(nproc)
cat <<EOF
page for $NADS NADs (bash benches/page.sh; NADS=$NADS RUNS=$RUNS, median, $nproc_ cores):
  size:                               $bytes bytes ($((bytes / 1024)) KiB; limit 5 MB)
  mignet check --output html:         ${write_ms} ms (reading $NADS NADs, judging, writing the page)
  Chromium, navigation to painted:    ${painted_ms} ms (in-page timing; limit 2000 ms)
  Chromium screenshot, wall clock:    ${page_ms} ms (an empty page: ${empty_ms} ms; difference $((page_ms - empty_ms)) ms)
EOF
