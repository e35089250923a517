#!/usr/bin/env bash
# Runs every case of this directory through the authz-check binary and prints mismatches.
#   authz-policy/tests/data/istio/run.sh [substring...]   (build first: cargo build -p examples --bin authz-check)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${AUTHZ_CHECK:-$here/../../../../target/debug/authz-check}"
exec python3 - "$here" "$bin" "$@" <<'PY'
import json, os, subprocess, sys
root, binary, only = sys.argv[1], sys.argv[2], sys.argv[3:]
fails = n = 0
for c in sorted(os.listdir(root)):
    d = os.path.join(root, c)
    if not os.path.exists(os.path.join(d, "expected.json")) or (only and not any(o in c for o in only)):
        continue
    n += 1
    e = json.load(open(os.path.join(d, "expected.json")))
    p = subprocess.run([binary, "--policies", f"{d}/policies.yaml", "--request", f"{d}/request.json"]
                       + e.get("args", []), capture_output=True, text=True)
    err = None
    if "exit" in e:
        if p.returncode != e["exit"]:
            err = f"exit {p.returncode}, stdout {p.stdout.strip()}"
        elif e.get("error_contains", "") not in p.stderr:
            err = f"stderr {p.stderr.strip()!r} lacks {e['error_contains']!r}"
    elif p.returncode != 0:
        err = f"exit {p.returncode}: {p.stderr.strip()}"
    else:
        a = json.loads(p.stdout)
        diffs = []
        for k, v in e.items():
            if k in ("args", "comment"):
                continue
            if k == "reason_contains":
                if v not in a.get("reason", ""):
                    diffs.append(f"reason {a.get('reason')!r} lacks {v!r}")
            elif a.get(k, "<missing>") != v:
                diffs.append(f"{k}: want {v!r} got {a.get(k, '<missing>')!r}")
        if diffs:
            err = "; ".join(diffs) + f"  [reason: {a.get('reason')}]"
    if err:
        fails += 1
        print(f"FAIL {c}: {err}")
print(f"{n - fails}/{n} pass")
sys.exit(1 if fails else 0)
PY
