#!/usr/bin/env bash
# Demo of metallb-node-route-agent's main job, in a throwaway network namespace.
#
#   make demo                 (or, as root: ./tools/demo.sh build/metallb-nra [config.yaml])
#
# 1. creates a namespace with a veth pair whose "far side" addresses are the BGP peers
# 2. runs the agent there as a daemon against deploy/examples/metallb-config.yaml
# 3. prints the resulting rules and routes (IPv4 and IPv6)
# 4. adds an imposter rule with `ip` and shows the agent removing it at once
# 5. stops the agent (SIGTERM: routing stays in place) and tears everything down
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
agent="${1:-$here/build/metallb-nra}"
config="${2:-$here/deploy/examples/metallb-config.yaml}"
table=20

if [ "$(id -u)" -ne 0 ]; then
    echo "demo: needs root for network namespaces: make demo (it uses sudo when not root)" >&2
    exit 1
fi
if [ ! -x "$agent" ]; then
    echo "demo: agent binary not found: $agent (run make first)" >&2
    exit 1
fi
agent="$(cd "$(dirname "$agent")" && pwd)/$(basename "$agent")"
if [ ! -r "$config" ]; then
    echo "demo: config not found: $config" >&2
    exit 1
fi

ns="nra-demo-$$"
work="$(mktemp -d /tmp/nra-demo.XXXXXX)"
log="$work/agent.log"
agent_pid=""

if [ -t 1 ]; then bold=$'\e[1m'; dim=$'\e[2m'; green=$'\e[32m'; red=$'\e[31m'; off=$'\e[0m'
else bold=""; dim=""; green=""; red=""; off=""; fi

heading() { printf '\n%s== %s ==%s\n' "$bold" "$*" "$off"; }
run() { printf '%s$ %s%s\n' "$dim" "$*" "$off"; "$@"; }
nsip() { ip -n "$ns" "$@"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
log_lines() { sed -n "$(( ${1:-0} + 1 )),\$p" "$log" | sed 's/^/    agent| /'; }

cleanup() {
    local rc=$?
    set +e
    if [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; then
        kill -TERM "$agent_pid"; wait "$agent_pid" 2>/dev/null
    fi
    if ip netns list | grep -qw "$ns"; then
        ip netns del "$ns"
        heading "teardown"
        echo "namespace $ns deleted"
    fi
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

heading "1. throwaway network namespace $ns"
run ip netns add "$ns"
ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
nsip link set lo up
run ip -n "$ns" link add v0 type veth peer name v1
run ip -n "$ns" addr add 172.29.0.2/24 dev v0
run ip -n "$ns" -6 addr add fd29::2/64 dev v0 nodad
nsip link set v0 up
nsip link set v1 up
echo "peers 172.29.0.1, 172.29.0.3 and fd29::1 are on-link through v0"
echo "a foreign rule and route, which the agent must leave alone:"
run ip -n "$ns" rule add from 192.168.57.0/24 lookup 100 priority 30
run ip -n "$ns" route add default via 172.29.0.3 table 100

heading "2. configuration ($config)"
grep -v '^#' "$config" | sed 's/^/    /'

heading "3. the agent, as a daemon (LOG_FORMAT=text)"
ip netns exec "$ns" env -i PATH="$PATH" METALLB_STATIC_FILE="$config" LOG_FORMAT=text LOG_LEVEL=${DEMO_LOG_LEVEL:-info} \
    TABLE_WEIGHT=$table "$agent" 2>"$log" &
agent_pid=$!
echo "started: pid $agent_pid"

want_rules=$(( 7 + 4 ))  # 192.168.57.0/24 + 6 CIDRs for the IPv4 range; fd57::/64 + 3 for the IPv6 range
for _ in $(seq 1 200); do
    n=$(( $(nsip -4 rule show table $table | wc -l) + $(nsip -6 rule show table $table | wc -l) ))
    [ "$n" -ge "$want_rules" ] && break
    kill -0 "$agent_pid" 2>/dev/null || { echo "${red}agent exited:${off}"; log_lines 0; exit 1; }
    sleep 0.05
done
log_lines 0
seen=$(wc -l < "$log")

heading "4. resulting policy rules"
run ip -n "$ns" -4 rule show
run ip -n "$ns" -6 rule show
heading "   resulting routes in table $table"
run ip -n "$ns" -4 route show table $table
run ip -n "$ns" -6 route show table $table

heading "5. an imposter rule added with ip"
run ip -n "$ns" rule add from 192.168.57.0/24 to 8.8.8.8 lookup $table priority 20
t0=$(now_ms)
echo "rules in table $table right after the add:"
nsip -4 rule show table $table | sed 's/^/    /'
gone=""
for _ in $(seq 1 500); do
    if ! nsip -4 rule show table $table | grep -q '8\.8\.8\.8'; then gone=1; break; fi
    sleep 0.01
done
t1=$(now_ms)
if [ -n "$gone" ]; then
    echo "${green}imposter removed by the agent (seen gone after ~$(( t1 - t0 )) ms, polling with ip)${off}"
else
    echo "${red}imposter still present after 5 s${off}"
fi
run ip -n "$ns" -4 rule show table $table
echo "agent log since:"
log_lines "$seen"
seen=$(wc -l < "$log")

heading "6. stop the agent (SIGTERM): routing stays in place"
kill -TERM "$agent_pid"
set +e; wait "$agent_pid"; rc=$?; set -e
agent_pid=""
echo "agent exit code: $rc"
log_lines "$seen"
run ip -n "$ns" -4 route show table $table
echo "foreign rule and route still there:"
nsip rule show | grep 'lookup 100' | sed 's/^/    /'
nsip route show table 100 | sed 's/^/    /'
[ -n "$gone" ] && [ "$rc" -eq 0 ]
