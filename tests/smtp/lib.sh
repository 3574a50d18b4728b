# Helpers for the end-to-end delivery tests (tests/smtp/*.sh): the capturing
# SMTP server (tests/smtp/capture.py) on a free loopback port, polling for
# the messages it stored, and stopping everything at exit. Source it after
# tests/cli/tap.sh; it replaces tap.sh's EXIT trap with one that also stops
# what these helpers started (and calls tap.sh's cleanup, unless BL_TEST_KEEP
# is set: then the scratch directory stays, for a look at the messages).

SMTP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Debian's python3-aiosmtpd belongs to the system interpreter.
PY=/usr/bin/python3
CAPTURE_PID=""
CAPTURE_PORT=""
# Commands run at exit, last registered first (on_exit CMD).
SMTP_EXIT=()

on_exit() { SMTP_EXIT=("$1" "${SMTP_EXIT[@]}"); }

smtp_cleanup() {
	local cmd
	for cmd in "${SMTP_EXIT[@]}"; do eval "$cmd"; done
	stop_capture
	if [ -n "${BL_TEST_KEEP:-}" ]; then
		echo "# BL_TEST_KEEP: kept $WORK" >&2
	else
		cleanup
	fi
}
trap smtp_cleanup EXIT
# A runner's timeout or an interrupt: exit, so that the EXIT trap runs.
trap 'exit 143' TERM
trap 'exit 130' INT

# free_port: print a TCP port free on 127.0.0.1 now (the kernel's choice).
free_port() {
	$PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT SECONDS: true once something accepts connections on
# 127.0.0.1:PORT, false after SECONDS.
wait_port() {
	local port=$1 end=$((SECONDS + $2))
	while [ $SECONDS -lt $end ]; do
		$PY -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' \
			"$port" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# start_capture DIR [CAPTURE_OPTION...]: start capture.py storing into DIR;
# sets CAPTURE_PID and CAPTURE_PORT. Fails after 30 s without a port.
start_capture() {
	local dir=$1 end=$((SECONDS + 30))
	shift
	rm -f "$WORK/capture.port"
	$PY "$SMTP_DIR/capture.py" --dir "$dir" --port-file "$WORK/capture.port" "$@" \
		>"$WORK/capture.out" 2>"$WORK/capture.err" &
	CAPTURE_PID=$!
	while [ ! -s "$WORK/capture.port" ]; do
		if ! kill -0 "$CAPTURE_PID" 2>/dev/null || [ $SECONDS -ge $end ]; then
			echo "# capture.py did not start:" && sed 's/^/# /' "$WORK/capture.err"
			return 1
		fi
		sleep 0.05
	done
	CAPTURE_PORT=$(cat "$WORK/capture.port")
}

stop_capture() {
	[ -n "$CAPTURE_PID" ] || return 0
	kill -TERM "$CAPTURE_PID" 2>/dev/null
	wait "$CAPTURE_PID" 2>/dev/null
	CAPTURE_PID=""
}

# count_messages DIR: how many complete messages (.json written last) DIR holds.
count_messages() {
	find "$1" -maxdepth 1 -name '*.json' 2>/dev/null | wc -l
}

# wait_messages DIR N SECONDS [EVERY CMD]: poll until DIR holds at least N
# messages; false after SECONDS. With EVERY and CMD, run CMD every EVERY
# seconds while waiting (a queue flush).
wait_messages() {
	local dir=$1 n=$2 end=$((SECONDS + $3)) every=${4:-0} cmd=${5:-} next
	next=$((SECONDS + every))
	while [ "$(count_messages "$dir")" -lt "$n" ]; do
		[ $SECONDS -ge $end ] && return 1
		if [ -n "$cmd" ] && [ $SECONDS -ge $next ]; then
			eval "$cmd"
			next=$((SECONDS + every))
		fi
		sleep 0.2
	done
}

# smtp_address ADDR: ADDR with its domain in A-labels, as SMTP carries it
# (Python's codec is IDNA 2003: only for domains both versions agree on).
smtp_address() {
	$PY -c 'import sys; l, _, d = sys.argv[1].rpartition("@"); print(l + "@" + d.encode("idna").decode())' "$1"
}

# msgtool ARGS...: tests/smtp/msgtool.py (find, part, header, same).
msgtool() { $PY "$SMTP_DIR/msgtool.py" "$@"; }

# check_messages ARGS...: tests/smtp/check_messages.py; output in $OUT, code in $RC.
check_messages() { run $PY "$SMTP_DIR/check_messages.py" "$@"; }
