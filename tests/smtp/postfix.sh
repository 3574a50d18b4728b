#!/bin/bash
# End to end through a real Postfix, as a publisher's local relay would be:
# bulletin -> Postfix (its own configuration, queue and log under a scratch
# directory, listening on a free loopback port, relayhost = the capture
# server) -> tests/smtp/capture.py. 50 subscribers (non-ASCII names, IDN
# domains) get one post; the test waits until every message has come out
# of Postfix's queue, then checks them strictly (check_messages.py: Postfix
# may prepend its Received header, nothing else may change), that the VERP
# envelope sender survived the relay, that each message is byte for byte
# what `post preview` shows (apart from Date and the trace header), and
# Postfix's own log. Postfix is stopped at exit. Needs root (postfix(1) is
# reserved for the superuser) and the Postfix binaries; skips without them.
. "$(dirname "$0")/../cli/tap.sh"
. "$(dirname "$0")/lib.sh"
B=$BULLETIN

PF_DAEMONS=$(postconf -dh daemon_directory 2>/dev/null)
for f in /usr/sbin/postfix /usr/sbin/postconf /usr/sbin/postqueue "$PF_DAEMONS/master"; do
	if [ ! -x "$f" ]; then
		echo "1..0 # SKIP $f is missing (package postfix)"
		exit 0
	fi
done
if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP starting a Postfix instance needs root"
	exit 0
fi

DB=$(new_db)
export BULLETIN_DB=$DB
export BULLETIN_FROM="Newsroom <alerts@news.example>"
export BULLETIN_PUBLIC_URL="https://news.example"
$B init >/dev/null
$B list create news --name "Newsroom alerts" --optin single >/dev/null
SUBJECT='Ελληνικά νέα: 東京の天気予報 — storm warning ⚡ for Zürich, København & Ærøskøbing via Postfix'
$PY - "$WORK/subs.csv" "$WORK/expected.csv" <<'PY'
import csv, sys
special = {0: ("someone@bücher.example", "someone@xn--bcher-kva.example"),
           1: ("x@日本語.example", "x@xn--wgv71a119e.example"),
           2: ("Mixed.Case@Example.ORG", "Mixed.Case@example.org")}
names = ["Σωκράτης Παπαδόπουλος", "山田 太郎", "Zoë 🦄 Müller", 'Gus "the Bus" Øster', "Doe, John",
         "Ø", "", "Ann Smith", "Ελευθέριος Κυριακόπουλος-Παπαγεωργίου του Αλεξάνδρου και της Μαρίας",
         "=?UTF-8?B?SGk=?="]
subs = csv.writer(open(sys.argv[1], "w", newline="", encoding="utf-8"), lineterminator="\n")
exp = csv.writer(open(sys.argv[2], "w", newline="", encoding="utf-8"), lineterminator="\n")
subs.writerow(["email", "name"])
exp.writerow(["email", "name"])
for i in range(50):
    addr, smtp = special.get(i, (f"reader{i:02d}@example.org", f"reader{i:02d}@example.org"))
    subs.writerow([addr, names[i % len(names)]])
    exp.writerow([smtp, names[i % len(names)]])
PY
expect_out "import 50 subscribers" 0 "^imported 50, " $B import "$WORK/subs.csv" --list news --quiet
printf '# Hello {{subscriber.name}}\n\n.\n\nΕλληνικά, 日本語, ⚡.\n\n[Leave]({{unsubscribe_url}})\n' >"$WORK/body.md"
$B post create --list news --subject "$SUBJECT" --body-file "$WORK/body.md" >/dev/null

CAP=$WORK/captured
if ! start_capture "$CAP"; then
	not_ok "capture.py starts"
	done_testing
	exit
fi

# ---- a private Postfix instance ----
PF=$WORK/postfix # mktemp -d made $WORK 0700; Postfix's daemons run as its mail_owner
chmod 755 "$WORK"
mkdir -p "$PF/etc" "$PF/queue" "$PF/data"
chown "$(postconf -dh mail_owner)" "$PF/data"
PF_PORT=""
PF_MASTER=""
pf_stop() {
	[ -n "$PF_MASTER" ] || return 0
	postfix -c "$PF/etc" stop >/dev/null 2>&1
	local end=$((SECONDS + 20))
	while kill -0 "$PF_MASTER" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
	if kill -0 "$PF_MASTER" 2>/dev/null; then
		postfix -c "$PF/etc" abort >/dev/null 2>&1
		sleep 1
		kill -KILL "$PF_MASTER" 2>/dev/null
	fi
	PF_MASTER=""
}
on_exit pf_stop

pf_config() { # PORT: main.cf and master.cf for a relay on 127.0.0.1:PORT
	cat >"$PF/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
myhostname = relay.bulletin.test
mydomain = bulletin.test
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
mydestination =
local_recipient_maps =
local_transport = error:5.1.1 no local delivery here
alias_maps =
alias_database =
relayhost = [127.0.0.1]:$CAPTURE_PORT
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtpd_peername_lookup = no
biff = no
append_dot_mydomain = no
CF
	# chroot off everywhere: the queue is not a prepared chroot.
	cat >"$PF/etc/master.cf" <<CF
127.0.0.1:$1 inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CF
}

# A free port may be taken between our look and Postfix's bind: try three.
for _ in 1 2 3; do
	PF_PORT=$(free_port)
	pf_config "$PF_PORT"
	# `postfix start` returns once the master has bound its listeners (master -w).
	postfix -c "$PF/etc" start >"$WORK/postfix-start.log" 2>&1
	rc=$?
	PF_MASTER=$(tr -d ' ' <"$PF/queue/pid/master.pid" 2>/dev/null)
	if [ $rc = 0 ] && [ -n "$PF_MASTER" ] && wait_port "$PF_PORT" 15; then
		break
	fi
	pf_stop
	PF_PORT=""
done
if [ -z "$PF_PORT" ]; then
	not_ok "Postfix starts on loopback" "$(cat "$WORK/postfix-start.log")" "$(tail -n 20 "$PF/maillog" 2>/dev/null)"
	done_testing
	exit
fi
ok "Postfix $(postconf -c "$PF/etc" -h mail_version) listens on 127.0.0.1:$PF_PORT (relayhost: capture on $CAPTURE_PORT)"
same "postconf reads the private configuration" "$(postconf -c "$PF/etc" -h relayhost)" "[127.0.0.1]:$CAPTURE_PORT"

# ---- send ----
export BULLETIN_RELAY="smtp://127.0.0.1:$PF_PORT"
expect_out "post send --wait hands 50 messages to Postfix" 0 "post 1: sent" $B post send 1 --wait
run $B post status 1 --json
same "post status: 50 accepted by Postfix" "$(printf '%s' "$OUT" | jq -c '{status,accepted,deferred,failed}')" \
	'{"status":"sent","accepted":50,"deferred":0,"failed":0}'

# Postfix delivers at once; flush its queue every 10 s in case it deferred.
if wait_messages "$CAP" 50 60 10 'postqueue -c "$PF/etc" -f'; then
	ok "all 50 messages came out of Postfix"
else
	not_ok "all 50 messages came out of Postfix" "captured: $(count_messages "$CAP")" \
		"queue: $(postqueue -c "$PF/etc" -p 2>&1 | tail -n 5)" "log: $(tail -n 10 "$PF/maillog")"
fi
sleep 0.5 # a 51st (duplicate) message would show now
stop_capture

check_messages --from "$BULLETIN_FROM" --post 1 --bounce-domain news.example --msgid-domain news.example \
	--public-url "$BULLETIN_PUBLIC_URL" "$CAP" "$WORK/expected.csv" "$SUBJECT"
if [ "$RC" = 0 ]; then ok "check_messages.py: $(tail -n 1 <<<"$OUT")"; else
	not_ok "check_messages.py finds no problem" "$OUT" "$ERR"
fi

bad=$($PY - "$CAP" <<'PY'
import glob, json, re, sys
for f in sorted(glob.glob(sys.argv[1] + "/*.json")):
    m = json.load(open(f))
    if not re.fullmatch(r"bounces\+1-\d+-[0-9a-f]{16}@news\.example", m["mail_from"]):
        print(f"{f}: envelope sender {m['mail_from']}")
    if m["helo"] != "relay.bulletin.test":
        print(f"{f}: HELO {m['helo']} (not through Postfix?)")
    raw = open(f[:-5] + ".eml", "rb").read()
    rec = re.findall(rb"^Received: .*\r\n(?:[ \t].*\r\n)*", raw, re.M)
    if len(rec) != 1 or b"by relay.bulletin.test (Postfix)" not in rec[0]:
        print(f"{f}: Received headers {rec!r}")
PY
)
same "VERP envelope senders survive the relay; one Received by Postfix each" "$bad" ""

# Byte for byte what preview shows, apart from Date and Received.
for to in someone@bücher.example Mixed.Case@example.org reader03@example.org reader08@example.org; do
	f=$(msgtool find "$CAP" "$(smtp_address "$to")")
	$B post preview 1 --to "$to" >"$WORK/preview.eml" 2>"$WORK/stderr" ||
		not_ok "post preview 1 --to $to" "$(cat "$WORK/stderr")"
	run msgtool same "$WORK/preview.eml" "$f"
	if [ "$RC" = 0 ]; then ok "Postfix passed the message to $to on unchanged"; else
		not_ok "Postfix passed the message to $to on unchanged" "$OUT" "$ERR"
	fi
done

same "Postfix logged 50 deliveries to the capture server" \
	"$(grep -c "relay=127.0.0.1\[127.0.0.1\]:$CAPTURE_PORT, .* status=sent" "$PF/maillog")" 50
same "Postfix's queue is empty" "$(postqueue -c "$PF/etc" -j 2>&1)" ""
run postqueue -c "$PF/etc" -f
same "postqueue -f works on the private instance" "$RC:$ERR" "0:"
# (a busy machine makes Postfix warn about its queue files' clock; not ours)
same "Postfix logged no warning or error" \
	"$(grep -E 'warning:|error:|fatal:|panic:' "$PF/maillog" |
		grep -vE 'file system clock is .* ahead|resetting file time stamps' | head -n 5)" ""

master=$PF_MASTER
pf_stop
if kill -0 "$master" 2>/dev/null; then not_ok "postfix stop ends the master ($master)"; else
	ok "postfix stop ends the master"
fi
done_testing
