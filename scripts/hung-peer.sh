#!/bin/sh
# hung-peer.sh [TIMEOUT_S]: how long transport-bench takes to report a server that hangs, on
# every transport, each workload. The server is told to stop answering after 100 requests
# (the hidden --inject-server-fault TRANSPORT:stall@100) and the case must fail with a timeout
# within --timeout (default 2 s) plus a second. The wall time printed is the whole run's,
# start-up and the 100 round trips included, so it overstates the time to report.
#
# TRANSPORTS="a b" (or "a,b") checks only those (default: every transport the help lists).
#
# Needs the release build (cargo build --release). Exits 1 if any case took longer, did not
# fail, or failed for another reason than the timeout. The figures of docs/own-cost.md come from it.
set -eu

timeout_s=${1:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
tool="$root/target/release/transport-bench"
[ -x "$tool" ] || { echo "$0: build first: cargo build --release" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/tb-hung-peer.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# Every transport, from the list under --transports in the help (one per line, indented
# twelve spaces, its name then two or more spaces): the one-line list above it wraps.
transports=$(echo "${TRANSPORTS:-}" | tr ',' ' ')
transports=${transports:-$("$tool" --help | sed -n '/^ *--transports /,/^ *--pattern /p' |
    sed -n 's/^            \([a-z0-9][a-z0-9-]*\)  .*/\1/p')}
# An empty list would check nothing and pass: it did, once the help began to wrap.
[ -n "$transports" ] || { echo "$0: found no transports in --help" >&2; exit 2; }
echo "transports: $(echo $transports)"
late=0
for transport in $transports; do
    for workload in "--sizes 100" "--sizes 2MB" "--sizes 100 --pattern stream" \
        "--sizes 100 --pattern one-way" "--sizes 100 --in-flight 4"; do
        start=$(date +%s.%N)
        # shellcheck disable=SC2086 # $workload is several words
        if "$tool" --transports "$transport" $workload --iterations 100000000 --warmup 0 \
            --timeout "${timeout_s}s" --inject-server-fault "$transport:stall@100" \
            --export-json "$work/run.json" >"$work/out" 2>&1; then
            verdict="NOT FAILED"
        else
            verdict=$(python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(r["status"] if r["status"] != "failed" else ("timed out" if "timed out" in (r.get("error") or "") else "failed: " + (r.get("error") or "")))' "$work/run.json" 2>/dev/null || echo "no report")
        fi
        wall=$(echo "$(date +%s.%N) - $start" | bc)
        within=$(echo "$wall <= $timeout_s + 1" | bc)
        if [ "$within" != 1 ]; then late=1; fi
        # Anything but the timeout (or a skip) fails: another error, or no report at all (an
        # unknown transport, a usage error), checked nothing.
        case $verdict in
        "timed out" | skipped) ;;
        *) late=1; [ "$verdict" = "NOT FAILED" ] || echo "  note: $verdict" ;;
        esac
        printf '%-13s %-28s %-10s %6.2f s%s\n' "$transport" "$workload" "$verdict" "$wall" \
            "$([ "$within" = 1 ] || echo '  LATE')"
    done
done
exit "$late"
