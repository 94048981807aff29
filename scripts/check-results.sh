#!/usr/bin/env bash
# Sanity-checks a transport-bench JSON export: every case ok or skipped (a size its transport
# cannot carry, with the reason), and the figures of each ok case consistent (min <= p50 <= p99
# <= max, ops_per_s = iterations / total_s, a placement sampled). Usage: check-results.sh FILE.json
set -euo pipefail
python3 - "$1" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["tool"] == "transport-bench", doc["tool"]
assert doc["state"] == "complete", doc["state"]
results = doc["results"]
expected = len(doc["config"]["transports"]) * len(doc["config"]["sizes"])
assert len(results) == expected, f"{len(results)} results, expected {expected}"
skipped = 0
for r in results:
    name = f'{r["transport"]} at {r["size_bytes"]} B'
    if r["status"] == "skipped":
        assert r["skip_reason"], f"{name}: skipped without a reason"
        assert r["iterations"] == 0 and r["latency_us"] is None, f"{name}: skipped but measured"
        print(f'{name}: skipped: {r["skip_reason"]}')
        skipped += 1
        continue
    assert r["status"] == "ok", f'{name}: {r["status"]}: {r["error"]}'
    l = r["latency_us"]
    chain = [l[k] for k in ("min", "p50", "p90", "p99", "p999", "max")]
    assert chain == sorted(chain), f"{name}: percentiles out of order: {chain}"
    assert 0 <= l["mean_corrected"] <= l["mean"], f"{name}: mean_corrected {l['mean_corrected']}"
    p = r["placement"]
    assert p is not None and p["samples"] > 0, f"{name}: no placement samples"
    assert 0.0 <= p["same_cpu_share"] <= 1.0, f"{name}: same_cpu_share {p['same_cpu_share']}"
    ops = r["iterations"] / r["total_s"]
    assert abs(ops - r["ops_per_s"]) <= 1e-6 * ops, f"{name}: ops_per_s {r['ops_per_s']} != {ops}"
    print(f'{name}: ok, mean {l["mean"]:.1f} us, p99 {l["p99"]:.1f} us')
print(f"{len(results)} results checked ({skipped} skipped)")
PY
