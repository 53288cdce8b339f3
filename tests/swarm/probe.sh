#!/usr/bin/env bash
# A probe for tests/swarm/run.sh: GET URL every INTERVAL_MS (50) with a 1 s
# limit, one line per answer into OUT ("<epoch ms> <status>", 000 when none),
# until it is sent SIGTERM or SIGINT.
#   tests/swarm/probe.sh URL OUT [INTERVAL_MS]
# tests/swarm/probe.sh --gaps OUT: the longest window without a 200 in OUT,
# as "<ms> <from epoch ms> <failed probes>" ("0 0 0" when none failed). A
# window runs from the first failed probe to the next 200 (or the last probe).
set -u
if [ "${1:-}" = --gaps ]; then
  exec awk '
    $2 != "200" { if (!start) start = $1; n++; last = $1; next }
    start { if ($1 - start > best) { best = $1 - start; from = start; bn = n } start = 0; n = 0 }
    END {
      if (start && last - start > best) { best = last - start; from = start; bn = n }
      printf "%.0f %.0f %d\n", best, from, bn
    }' "$2"
fi
url=$1 out=$2 interval=${3:-50}
stop=0
trap 'stop=1' TERM INT
sleep_s=$(awk -v ms="$interval" 'BEGIN { printf "%.3f", ms / 1000 }')
: >"$out"
while [ "$stop" = 0 ]; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout 1 --max-time 1 "$url" 2>/dev/null)
  printf '%s %s\n' "$(date +%s%3N)" "${code:-000}" >>"$out"
  [ "$stop" = 0 ] && sleep "$sleep_s"
done
exit 0
