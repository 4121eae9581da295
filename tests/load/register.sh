#!/usr/bin/env bash
# REGISTER load: sipp registers N distinct users (challenge + authenticated REGISTER each) against the
# release switchboard-signaling on loopback, at a fixed rate, bounded in count and time. Prints
# registrations/s with the number of failures. Usage: tests/load/register.sh [RATE] [COUNT]
set -euo pipefail
cd "$(dirname "$0")/../.."
rate=${1:-2000}
count=${2:-20000}
users=1000
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release -q -p switchboard-signaling
{
    printf '[sip]\nlisten = ["127.0.0.1:0"]\nworkers = 0\n[http]\nlisten = "127.0.0.1:0"\n[registrar]\nrealm = "load"\n'
    for i in $(seq 1 $users); do printf '[[users]]\nusername = "u%d"\npassword = "p%d"\n' "$i" "$i"; done
} > "$work/sb.toml"
echo "SEQUENTIAL" > "$work/users.csv"
for i in $(seq 1 $users); do echo "u$i;p$i;" >> "$work/users.csv"; done

./target/release/switchboard-signaling --config "$work/sb.toml" > "$work/ready" 2> "$work/log" &
pid=$!
for _ in $(seq 1 100); do grep -q ready "$work/ready" 2>/dev/null && break; sleep 0.1; done
sip=$(sed -n 's/.*sip \([^ ]*\) .*/\1/p' "$work/ready")
[ -n "$sip" ] || { echo "server did not start"; cat "$work/log"; exit 1; }

start=$(date +%s.%N)
set +e
(cd "$work" && timeout 120 sipp "$sip" -sf "$OLDPWD/tests/sipp/register_digest.xml" -inf users.csv \
    -i 127.0.0.1 -t u1 -r "$rate" -m "$count" -l 2000 -buff_size 4194304 -timeout 100s -timeout_error \
    -nostdin -trace_stat -trace_screen -fd 1 > sipp.out 2>&1)
rc=$?
set -e
end=$(date +%s.%N)
ok=$(grep -E '^ *Successful call' "$work"/*_screen.log | tail -1 | awk '{print $(NF)}')
failed=$(grep -E '^ *Failed call' "$work"/*_screen.log | tail -1 | awk '{print $(NF)}')
elapsed=$(echo "$end - $start" | bc -l)
# Each sipp call of register_digest.xml performs 3 authenticated REGISTERs (bind, fetch, remove) = 6 requests.
printf 'register load: rate=%s/s calls=%s ok=%s failed=%s elapsed=%.2fs sipp_rc=%s\n' "$rate" "$count" "$ok" "$failed" "$elapsed" "$rc"
printf 'authenticated REGISTER transactions/s: %.0f  (SIP requests/s: %.0f)\n' \
    "$(echo "$ok * 3 / $elapsed" | bc -l)" "$(echo "$ok * 6 / $elapsed" | bc -l)"
