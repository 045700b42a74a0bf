#!/usr/bin/env bash
# ./run lab: a lab to explore by hand. Inside the shell: lab_exec NODE CMD...,
# lab_split, lab_vpngw_policy, ... (see tests/lab/lab.sh). Exit the shell to tear down.
set -u
. "$(dirname "$0")/lab.sh"
lab_up
export -f $(declare -F | awk '$3 ~ /^lab_/ {print $3}')
export LAB_ID LAB_STATE LAB_TURN_SECRET LAB_TUNNEL_IF LAB_SPLIT LAB_NODES_STR="${LAB_NODES[*]}"
echo "lab $LAB_ID is up; nodes: ${LAB_NODES[*]}; try: lab_exec laptop ip -br addr"
bash --norc -i

