#!/usr/bin/env bash
# REGISTER load: tests/sipp/register_digest.xml (challenge, authenticated REGISTER, fetch, de-REGISTER:
# 3 authenticated REGISTER transactions, 6 requests per call) against the release switchboard-signaling on
# loopback, at a fixed total rate, bounded in count and time. Prints calls and registrations/s with the
# number of failures.
#
# Usage: tests/load/register.sh [RATE] [COUNT] [UAS]
#   RATE  calls per second in total (default 2000), COUNT calls in total (default 20000),
#   UAS   parallel sipp instances (default 10). RATE and COUNT are split evenly between them.
#
# Each sipp instance is one user (u1..uUAS) with its own port and at most one call at a time (-l 1): sipp
# 3.6 cannot take the digest username from an -inf CSV field, and concurrent calls of one user would race
# (one call's `Contact: *` de-REGISTER removes another call's binding, failing its checks). A call is
# therefore ~6 round trips; when the server cannot keep up, the achieved rate falls below RATE and
# late answers show up as retransmissions and then failed calls.
#
# Over UDP every non-INVITE server transaction lingers in Completed for Timer J (64*T1 = 32 s), so a steady
# rate of R requests/s keeps ~32*R transactions alive: the default `sip.max_server_transactions` (100000)
# answers 503 above ~3100 requests/s (~520 calls/s) once the first 32 s have filled it. MAX_TX (default
# 1000000) raises the cap so the run measures processing capacity; MAX_TX=100000 shows the default.
#
# SB_NO_BUILD=1 uses the release binary already built; KEEP=1 keeps the work directory (sipp logs).
set -euo pipefail
cd "$(dirname "$0")/../.."
rate=${1:-2000}
count=${2:-20000}
uas=${3:-10}
work=$(mktemp -d)
pid=
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"' EXIT

[ -n "${SB_NO_BUILD:-}" ] || cargo build --release -q -p switchboard-signaling
bin="${CARGO_TARGET_DIR:-target}/release/switchboard-signaling"
{
    printf '[sip]\nlisten = ["127.0.0.1:0"]\nworkers = 0\nmax_server_transactions = %s\n' "${MAX_TX:-1000000}"
    printf '[http]\nlisten = "127.0.0.1:0"\n[registrar]\nrealm = "load"\n'
    # All load comes from one loopback address: flood bans stay on (counted) with a limit above it.
    printf '[security]\nflood_max_per_sec = 10000000\n'
    for i in $(seq 1 "$uas"); do printf '[[users]]\nusername = "u%d"\npassword = "p%d"\n' "$i" "$i"; done
} > "$work/sb.toml"

"$bin" --config "$work/sb.toml" > "$work/ready" 2> "$work/log" &
pid=$!
for _ in $(seq 1 100); do grep -q ready "$work/ready" 2>/dev/null && break; sleep 0.1; done
sip=$(sed -n 's/.*sip \([^ ]*\) .*/\1/p' "$work/ready")
[ -n "$sip" ] || { echo "server did not start"; cat "$work/log"; exit 1; }

scenario="$PWD/tests/sipp/register_digest.xml"
per_rate=$(echo "$rate / $uas" | bc -l)
per_count=$((count / uas))
start=$(date +%s.%N)
sipps=()
for i in $(seq 1 "$uas"); do
    mkdir "$work/ua$i"
    (cd "$work/ua$i" && exec timeout 120 sipp "$sip" -sf "$scenario" -s "u$i" -au "u$i" -ap "p$i" \
        -i 127.0.0.1 -t u1 -r "$per_rate" -m "$per_count" -l 1 -timeout 100s -timeout_error \
        -nostdin -trace_screen -trace_err > sipp.out 2>&1) &
    sipps+=($!)
done
rcs=0
for p in "${sipps[@]}"; do wait "$p" || rcs=$((rcs + 1)); done
end=$(date +%s.%N)
ok=0
failed=0
retrans=0
for i in $(seq 1 "$uas"); do
    screen=$(ls "$work/ua$i"/*_screen.log 2>/dev/null | head -1)
    [ -n "$screen" ] || { echo "sipp $i wrote no screen log:"; cat "$work/ua$i/sipp.out"; exit 1; }
    ok=$((ok + $(grep -E '^ *Successful call' "$screen" | tail -1 | awk '{print $NF}')))
    failed=$((failed + $(grep -E '^ *Failed call' "$screen" | tail -1 | awk '{print $NF}')))
    # Message table rows: "REGISTER ---------->  <messages> <retrans> <timeout>".
    r=$(awk '/REGISTER -+>/ {r += $4} END {print r + 0}' "$screen")
    retrans=$((retrans + r))
done
elapsed=$(echo "$end - $start" | bc -l)
printf 'register load: target=%s calls/s uas=%s calls=%s ok=%s failed=%s retrans=%s elapsed=%.2fs failing_sipps=%s\n' \
    "$rate" "$uas" "$((per_count * uas))" "$ok" "$failed" "$retrans" "$elapsed" "$rcs"
printf 'achieved: %.0f calls/s = %.0f authenticated REGISTER transactions/s (%.0f SIP requests/s)\n' \
    "$(echo "$ok / $elapsed" | bc -l)" "$(echo "$ok * 3 / $elapsed" | bc -l)" "$(echo "$ok * 6 / $elapsed" | bc -l)"
[ "$failed" -eq 0 ] && [ "$rcs" -eq 0 ]
