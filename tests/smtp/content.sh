#!/bin/bash
# End to end: 500 imported subscribers, one post, `post send --wait` through
# SMTP to tests/smtp/capture.py on loopback; then every stored message is
# checked strictly (tests/smtp/check_messages.py): exactly the expected
# recipients, one copy each (also on two of the post's lists), none for the
# unconfirmed, unsubscribed, daily, blocklisted or off-post ones; non-ASCII
# display names (Greek, CJK, emoji, quotes, commas, "Ø", a name that looks
# like an encoded word), IDN domains (sent as A-labels), a quoted local part,
# the longest local part and domain label; a long non-ASCII subject in
# several RFC 2047 words; a Markdown body with Mustache fields, a very long
# URL and word, lines "." and ".." (dot-stuffing). Also: the post's
# counters, Message-IDs as `post preview` shows them (the whole message, in
# fact, apart from Date), the SIZE the client announced, the list a
# subscriber on several of the post's lists gets it through, unsubscribes
# after queueing (suppressed at claim time), and that the checker itself
# fails on tampered captures.
. "$(dirname "$0")/../cli/tap.sh"
. "$(dirname "$0")/lib.sh"
B=$BULLETIN
DB=$(new_db)
export BULLETIN_DB=$DB
export BULLETIN_FROM="Newsroom Ελλάς <alerts@news.example>"
export BULLETIN_PUBLIC_URL="https://news.example"
$B init >/dev/null
$B list create news --name "Newsroom alerts" >/dev/null
$B list create local --name "Τοπικά — 地元" --optin single >/dev/null
$B list create other --name "Other" >/dev/null

SUBJECT='Ελληνικά νέα: 東京の天気予報 — storm warning ⚡ for Zürich, København & Ærøskøbing; “quotes”, (parens), a literal =?utf-8?q?not_a_word?= and 🦄 at the end'
LONG_URL="https://news.example/report/2026/storm?$($PY -c 'print("&".join(f"k{i}=v{i:04d}" for i in range(300)))')"
LONG_WORD=$($PY -c 'print("Ωμέγα-Supercalifragilistic" * 120)')

# The subscribers (a bulletin CSV export: one row per subscription) and the
# recipients check_messages.py expects (email as SMTP sees it, name, the text
# the message must hold: the list it came through, the city attribute).
# mixed.txt: those confirmed daily on news and instant on local (below).
$PY - "$WORK/subs.csv" "$WORK/expected.csv" "$WORK/mixed.txt" <<'PY'
import csv, json, sys
T = "2026-01-01T00:00:00Z"
special = {  # index -> (address as imported, address as SMTP sees it)
    0: ("someone@bücher.example", "someone@xn--bcher-kva.example"),
    1: ("Kunde@BÜCHER.EXAMPLE", "Kunde@xn--bcher-kva.example"),
    2: ("leser@straße.example", "leser@xn--strae-oqa.example"),
    4: ("x@日本語.example", "x@xn--wgv71a119e.example"),
    6: ("Mixed.Case@Example.ORG", "Mixed.Case@example.org"),
    8: ("y@ΠΑΡΆΔΕΙΓΜΑ.example", "y@xn--hxajbheg2az3al.example"),
    12: ("first.o'brien+tag@example.org", "first.o'brien+tag@example.org"),
    14: ('"john q. doe"@example.org', '"john q. doe"@example.org'),
    16: ("x" * 64 + "@" + "d" * 63 + ".example.org", "x" * 64 + "@" + "d" * 63 + ".example.org"),
}
names = ["Σωκράτης Παπαδόπουλος", "山田 太郎", "李小龍", "Zoë 🦄 Müller", 'Gus "the Bus" Øster',
         "Doe, John", "O'Brien, Seán", "Ø", "", "Ann Smith",
         "Ελευθέριος Κυριακόπουλος-Παπαγεωργίου του Αλεξάνδρου και της Μαρίας",
         "Dr. A. (Tony) Smith", 'Back\\slash "q"', "=?UTF-8?B?SGk=?=", "محمد بن سلمان",
         "🎉🎉🎉", "Ærøskøbing Ålborg-Øresund Åsa", "José María Núñez, Jr.",
         "Nguyễn Thị Minh Khai", "Ann <ann@evil.example>", "a=?b", "Star *bold* _x_ [y](z)",
         "Bartholomew-Maximilian-Alexander-Constantine-Fitzgerald-Worthington-Smythe-III",
         "Ünïcödé Ünïcödé Ünïcödé Ünïcödé Ünïcödé Ünïcödé Ünïcödé Ünïcödé Ünïcödé"]
cities = ["Αθήνα", "東京", "Zürich", "", "København"]
list_names = {"news": "Newsroom alerts", "local": "Τοπικά — 地元", "other": "Other"}
out = csv.writer(open(sys.argv[1], "w", newline="", encoding="utf-8"), lineterminator="\n")
out.writerow(["email", "name", "attributes", "subscriber_status", "status_reason", "created_at",
              "list", "status", "mode", "subscribed_at"])
exp = csv.writer(open(sys.argv[2], "w", newline="", encoding="utf-8"), lineterminator="\n")
exp.writerow(["email", "name", "text"])
mixed = open(sys.argv[3], "w", encoding="utf-8")
for i in range(500):
    addr, smtp = special.get(i, (f"reader{i:03d}@example.org", f"reader{i:03d}@example.org"))
    name = names[i % len(names)]
    city = cities[i % len(cities)]
    attrs = json.dumps({"city": city} if city else {}, ensure_ascii=False)
    rows = []  # (list, status, mode)
    if i >= 480:
        rows.append(("local", "confirmed", "instant"))
    elif i % 50 == 21:
        rows.append(("other", "confirmed", "instant"))  # not on the post's lists
    else:
        status = {3: "unconfirmed", 7: "unsubscribed"}.get(i % 10, "confirmed")
        rows.append(("news", status, "daily" if i % 25 == 5 else "instant"))
        if i % 4 == 0 or i % 20 == 3 or i % 50 == 5:
            rows.append(("local", "confirmed", "instant"))
        elif i % 20 == 13:
            rows.append(("local", "unsubscribed", "instant"))
    blocked = i % 50 == 9
    for lst, status, mode in rows:
        out.writerow([addr, name, attrs, "blocklisted" if blocked else "active",
                      "bounced" if blocked else "", T, lst, status, mode, T])
    # Who gets a copy: active, confirmed in instant mode on news or local; the
    # message names the first such list of the post (news before local).
    via = [l for l, s, m in rows if l in ("news", "local") and s == "confirmed" and m == "instant"]
    if via and not blocked:
        text = [f"Your list: {list_names[via[0]]}."]
        if ("news", "confirmed", "daily") in rows:
            mixed.write(smtp + "\n")  # checked on its own
            text = []
        if city:
            text.append(f"City: {city}.")
        exp.writerow([smtp, name, "|".join(text)])
PY
nexp=$(($(wc -l <"$WORK/expected.csv") - 1))
nrows=$(($(wc -l <"$WORK/subs.csv") - 1))
expect_out "import of $nrows subscriptions" 0 "^imported $nrows, updated 0, skipped 0 \(invalid 0, duplicate 0\)$" \
	$B import "$WORK/subs.csv" --quiet

# shellcheck disable=SC1111 # typographic quotes on purpose
cat >"$WORK/body.md" <<MD
# Hello {{subscriber.name}}{{^subscriber.name}}reader{{/subscriber.name}}

Your list: {{list.name}}. {{#subscriber.attributes.city}}City: {{subscriber.attributes.city}}.{{/subscriber.attributes.city}}

Ελληνικά: Η γρήγορη καφέ αλεπού. 日本語: 東京の天気予報は雨です。 Emoji: ⚡🦄🌧️ — “typographic” quotes.

.

..

.leading dot

From the desk of the editor: this line starts with "From ".

Read [the full report]($LONG_URL) on our site.

$LONG_WORD

Unsubscribe: [one click]({{unsubscribe_url}}) · [preferences]({{preferences_url}}) · [archive]({{archive_url}}) · [this post]({{post.url}})
MD
expect_out "post create" 0 "^1$" $B post create --list news --list local --subject "$SUBJECT" --body-file "$WORK/body.md"

CAP=$WORK/captured
if ! start_capture "$CAP"; then
	not_ok "capture.py starts"
	done_testing
	exit
fi
export BULLETIN_RELAY="smtp://127.0.0.1:$CAPTURE_PORT"
expect_out "post send --wait delivers through SMTP" 0 "post 1: sent" $B post send 1 --wait
stop_capture # every message is stored before its 250 is sent
same "one message per expected recipient" "$(count_messages "$CAP")" "$nexp"

run $B post status 1 --json
same "post status --json: every expected recipient accepted, nothing else" \
	"$(printf '%s' "$OUT" | jq -c '{status,total,accepted,pending,claimed,deferred,failed,suppressed,in_doubt}')" \
	"{\"status\":\"sent\",\"total\":$nexp,\"accepted\":$nexp,\"pending\":0,\"claimed\":0,\"deferred\":0,\"failed\":0,\"suppressed\":0,\"in_doubt\":0}"

check_messages --from "$BULLETIN_FROM" --post 1 --bounce-domain news.example --msgid-domain news.example \
	--public-url "$BULLETIN_PUBLIC_URL" "$CAP" "$WORK/expected.csv" "$SUBJECT"
if [ "$RC" = 0 ]; then ok "check_messages.py: $(tail -n 1 <<<"$OUT")"; else
	not_ok "check_messages.py finds no problem" "$OUT" "$ERR"
fi

bad=$(jq -r 'select((.mail_options | map(select(startswith("SIZE="))) | .[0]) != "SIZE=\(.size)")
	| "\(.seq): \(.mail_options) for \(.size) octets"' "$CAP"/*.json)
same "MAIL FROM announces each message's exact SIZE (RFC 1870)" "$bad" ""

# The message of a few recipients, next to what `post preview` shows.
for to in 'someone@bücher.example' 'Kunde@xn--bcher-kva.example' 'x@日本語.example' 'reader005@example.org' \
	'reader024@example.org' 'reader010@example.org' 'mixed.case@example.org' '"john q. doe"@example.org'; do
	f=$(msgtool find "$CAP" "$(smtp_address "$to")")
	$B post preview 1 --to "$to" >"$WORK/preview.eml" 2>"$WORK/stderr" ||
		not_ok "post preview 1 --to $to" "$(cat "$WORK/stderr")"
	same "Message-ID of $to as post preview shows it" \
		"$(msgtool header "$f" Message-ID)" "$(msgtool header "$WORK/preview.eml" Message-ID)"
	run msgtool same "$WORK/preview.eml" "$f"
	if [ "$RC" = 0 ]; then ok "the message to $to is the preview apart from Date"; else
		not_ok "the message to $to is the preview apart from Date" "$OUT" "$ERR"
	fi
done

# Confirmed on both of the post's lists, daily on news and instant on local:
# the post reaches them through local, so the message must name local, and
# its List-Id and one-click unsubscribe must be local's (unsubscribing from
# news would not stop these messages).
bad=""
while read -r to; do
	f=$(msgtool find "$CAP" "$to") || continue
	id=$(msgtool header "$f" List-Id)
	case "$id|$(msgtool part "$f" text | tr -s ' \n' '  ')" in
	"<local.news.example>|"*"Your list: Τοπικά — 地元."*) ;;
	*) bad+="$to: List-Id $id, $(msgtool part "$f" text | grep -o 'Your list: [^.]*')"$'\n' ;;
	esac
done <"$WORK/mixed.txt"
same "daily on news, instant on local: the message comes from local ($(wc -l <"$WORK/mixed.txt") subscribers)" "$bad" ""

# The body's hard cases, in the IDN recipient's message.
f=$(msgtool find "$CAP" someone@xn--bcher-kva.example)
text=$(msgtool part "$f" text)
htm=$(msgtool part "$f" html)
case "$text" in *"$LONG_URL"*) ok "the long URL is whole in the text part" ;; *) not_ok "the long URL is whole in the text part" ;; esac
case "$htm" in *"href=\"$LONG_URL\""*) ok "the long URL is whole in the HTML part" ;; *) not_ok "the long URL is whole in the HTML part" ;; esac
case "$text" in *"$LONG_WORD"*) ok "the long word is whole in the text part" ;; *) not_ok "the long word is whole in the text part" ;; esac
case "$htm" in *"$LONG_WORD"*) ok "the long word is whole in the HTML part" ;; *) not_ok "the long word is whole in the HTML part" ;; esac
if grep -qx '\.' <<<"$text" && grep -qx '\.\.' <<<"$text" && grep -qx '\.leading dot' <<<"$text"; then
	ok "lines '.', '..' and '.leading dot' survive SMTP dot-stuffing"
else
	not_ok "lines '.', '..' and '.leading dot' survive SMTP dot-stuffing" "$text"
fi
case "$text" in *'From the desk of the editor: this line starts with "From ".'*) ok "a line starting with From survives" ;; *) not_ok "a line starting with From survives" ;; esac
case "$htm" in *"<h1>Hello Σωκράτης Παπαδόπουλος</h1>"*) ok "the HTML heading names the subscriber" ;; *) not_ok "the HTML heading names the subscriber" "$htm" ;; esac
f=$(msgtool find "$CAP" y@xn--hxajbheg2az3al.example)
case "$(msgtool part "$f" text)" in *"Hello reader"*) ok "an inverted section stands in for an empty name" ;; *) not_ok "an inverted section stands in for an empty name" ;; esac
same "no display name when the name is empty" "$(msgtool header "$f" To)" "y@xn--hxajbheg2az3al.example"

dq=$($B post deliveries 1 --json | jq -r '.[] | select(.state == "accepted") | .queue_id' | sort)
cq=$(cat "$CAP"/*.json | jq -r '.queue_id' | sort)
same "the capture server gave a queue id per message" "$(printf '%s\n' "$cq" | grep -c .)" "$nexp"
same "the relay's queue id is recorded per delivery (post deliveries)" "$(printf '%s' "$dq" | wc -l)/$dq" "$(printf '%s' "$cq" | wc -l)/$cq"

# Unsubscribes after queueing take effect at claim time: reader010 leaves
# news (its only list), reader055 leaves local (still confirmed on news, but
# in daily mode: nothing left that sends it this post).
$B post create --list news --list local --subject "Second" --body-file "$WORK/body.md" >/dev/null
expect_out "post 2 queued" 0 "post 2 queued: $nexp deliveries" $B post send 2
cat >"$WORK/unsub.csv" <<CSV
email,name,attributes,subscriber_status,status_reason,created_at,list,status,mode,subscribed_at
reader010@example.org,,{},active,,2026-01-01T00:00:00Z,news,unsubscribed,instant,2026-01-01T00:00:00Z
reader055@example.org,,{},active,,2026-01-01T00:00:00Z,local,unsubscribed,instant,2026-01-01T00:00:00Z
CSV
expect_out "two unsubscribes imported" 0 "updated 2" $B import "$WORK/unsub.csv" --quiet
start_capture "$WORK/second" && expect_out "send --once sends post 2" 0 "accepted [0-9]+, deferred 0, failed 0" \
	env BULLETIN_RELAY="smtp://127.0.0.1:$CAPTURE_PORT" $B send --once
stop_capture
got=$(jq -r '.rcpt_tos[0]' "$WORK"/second/*.json | grep -E '^reader0(10|55)@' | sort | tr '\n' ' ')
same "no message for those who unsubscribed after the post was queued" "$got" ""
run $B post status 2 --json
same "post 2: the two rows suppressed" "$(printf '%s' "$OUT" | jq -c '{status,accepted,suppressed}')" \
	"{\"status\":\"sent\",\"accepted\":$((nexp - 2)),\"suppressed\":2}"

# The checker fails on tampered captures (a test that cannot fail is no test).
tamper() { # $WORK/bad: a fresh copy of 10 captured messages to spoil; bad.csv their rows
	rm -rf "$WORK/bad" && mkdir "$WORK/bad" &&
		cp "$CAP"/00000[1-9].* "$CAP"/000010.* "$WORK/bad/" &&
		$PY - "$WORK/bad" "$WORK/expected.csv" "$WORK/bad.csv" <<'PY'
import csv, glob, json, sys
rcpts = {json.load(open(f))["rcpt_tos"][0].lower() for f in glob.glob(sys.argv[1] + "/*.json")}
rows = list(csv.reader(open(sys.argv[2], encoding="utf-8")))
with open(sys.argv[3], "w", encoding="utf-8", newline="") as f:
    csv.writer(f).writerows([rows[0]] + [r for r in rows[1:] if r[0].lower() in rcpts])
PY
}
expect_re() { # DESC REGEX...: the last check_messages failed with lines matching each REGEX
	local desc=$1 re
	shift
	for re in "$@"; do
		if [ "$RC" != 1 ] || ! grep -Eq -- "$re" <<<"$OUT"; then
			not_ok "$desc" "exit $RC; want a line matching $re" "$OUT"
			return
		fi
	done
	ok "$desc"
}
tamper && check_messages "$WORK/bad" "$WORK/bad.csv" "$SUBJECT"
same "checker: the untouched copy passes" "$RC" 0
tamper && cp "$WORK/bad/000001.eml" "$WORK/bad/999999.eml" && cp "$WORK/bad/000001.json" "$WORK/bad/999999.json"
check_messages "$WORK/bad" "$WORK/bad.csv" "$SUBJECT"
expect_re "checker: a duplicate message is found" ': 2 messages$'
tamper && rm "$WORK/bad/000002.json" "$WORK/bad/000002.eml"
check_messages "$WORK/bad" "$WORK/bad.csv" "$SUBJECT"
expect_re "checker: a missing recipient is found" ': no message$'
tamper && $PY -c 'import sys; p = sys.argv[1]; d = open(p, "rb").read(); open(p, "wb").write(d.replace(b"\r\n\r\n", b"\r\nX-Extra: 1\n\r\n", 1))' "$WORK/bad/000003.eml"
check_messages "$WORK/bad" "$WORK/bad.csv" "$SUBJECT"
expect_re "checker: a bare LF and a foreign header are found" 'bare LF or CR' "unexpected header 'X-Extra'"
tamper && check_messages "$WORK/bad" "$WORK/bad.csv" "$SUBJECT "
expect_re "checker: a different subject is found" 'Subject .*, want'
tamper && $PY - "$WORK/bad" <<'PY'
import glob, re, sys
for p in sorted(glob.glob(sys.argv[1] + "/*.eml")):  # the first with a display name
    d = open(p, "rb").read()
    t = re.sub(rb"\r\nTo: (?:[^\r]|\r\n[ \t])*<", b"\r\nTo: Somebody Else <", d, 1)
    if t != d:
        open(p, "wb").write(t)
        break
PY
check_messages "$WORK/bad" "$WORK/bad.csv" "$SUBJECT"
expect_re "checker: a wrong display name is found" "To name 'Somebody Else', want"
done_testing
