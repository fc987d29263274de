#!/usr/bin/env bash
# with-sim.sh BUILD_DIR [SIM OPTIONS...] -- COMMAND...: runs COMMAND with a
# fresh simulator on a free loopback port, QXT_ENDPOINT and QXT_APIKEY set
# for it (and QXTV_SIM_URL for its /stats), and stops it afterwards.
set -euo pipefail
QXTV_BUILD=$(cd "$1" && pwd); shift
. "$(dirname "$0")/../scripts/lib/setup.sh"
sim_args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do sim_args+=("$1"); shift; done
shift
unset QXT_APIKEY
start_sim "${sim_args[@]}"
trap stop_sim EXIT
export QXTV_SIM_URL=${QXT_ENDPOINT%/Phone_TwoElements}
# qxtv takes QXT_APIKEY out of its environment once read, so the qxtv that
# runs the specs does not pass it on: the specs hand this copy to the qxtv
# processes they start (tests/helpers/sim.lua, run()).
export QXTV_TEST_APIKEY=$QXT_APIKEY
"$@"
