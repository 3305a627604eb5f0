#!/usr/bin/env bash
# Runs things as one of the lab node's pods (installed as /usr/local/bin/pod):
#   pod a whoami           which source address the external server sees for pod a
#   pod a stream           a long-running TCP stream to the server's echo port: a line every 100 ms, Ctrl+C stops
#   pod a exec CMD ARGS…   any command inside pod a's network namespace
set -euo pipefail
SERVER=203.0.113.200
pod=${1:-}
action=${2:-}
if [ -z "$pod" ] || [ -z "$action" ]; then
  echo "usage: pod a|b|c whoami | stream | exec CMD [ARGS…]" >&2
  exit 2
fi
ns="pod-$pod"
shift 2
case "$action" in
  whoami) exec ip netns exec "$ns" curl -sS --max-time 3 "http://$SERVER:8080/" ;;
  stream)
    # shellcheck disable=SC2016 # expanded by the inner shell
    exec ip netns exec "$ns" bash -c '
      exec 3<>"/dev/tcp/$0/8081"
      i=0
      while true; do
        i=$((i + 1))
        printf "%s\n" "$i" >&3
        if read -r -t 2 echo <&3; then printf "%s echo %s\n" "$(date +%T.%3N)" "$echo"; else printf "%s no echo for %s within 2 s\n" "$(date +%T.%3N)" "$i"; fi
        sleep 0.1
      done' "$SERVER"
    ;;
  exec) exec ip netns exec "$ns" "$@" ;;
  *)
    echo "pod: unknown action $action (whoami, stream, exec)" >&2
    exit 2
    ;;
esac
