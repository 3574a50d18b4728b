# shellcheck shell=bash disable=SC2154 # pids and TMP belong to the sourcing script
# Helpers of the HTTP benchmarks (bench/http.sh, bench/admin.sh), sourced
# after the script has set TMP (its scratch directory) and the array pids
# (processes to stop on exit).
#
#   bench_traps NAME     stop $pids and remove $TMP on exit; name the failing
#                        line on error
#   free_port            a free TCP port on 127.0.0.1
#   wait_http URL [S]    until URL answers at all (S seconds, default 10)
#   stop_pid PID         SIGTERM and wait
#   cpu_ms PID...        CPU time (user + system, ms) used so far

bench_cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}

bench_traps() {
	trap bench_cleanup EXIT
	# shellcheck disable=SC2064 # the name is fixed now, the line at the error
	trap "echo \"$1: failed at line \$LINENO: \$BASH_COMMAND\" >&2" ERR
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_http() {
	local tries=$((${2:-10} * 10))
	while [ "$tries" -gt 0 ]; do
		curl -s -o /dev/null "$1" && return 0
		sleep 0.1
		tries=$((tries - 1))
	done
	echo "bench: nothing answers at $1" >&2
	return 1
}

stop_pid() {
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

cpu_ms() {
	local p t=0 ticks
	ticks=$(getconf CLK_TCK)
	for p in "$@"; do
		# utime and stime are fields 14 and 15, counted after the ")" that ends the name.
		t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }')))
	done
	echo $((t * 1000 / ticks))
}
