#!/usr/bin/env bash
# A private Dovecot (IMAP, IMAPS, POP3, POP3S on 127.0.0.1, free ports) for the
# mailbox tests (tests/unit/test_mailbox.c). Debian's system service is never
# touched: this instance has its own config file, base_dir, state and log in DIR.
#   tests/bounce/dovecot.sh start DIR   writes DIR/dovecot.conf, a throwaway
#       certificate, a passwd-file with user "bounces" (password in DIR/env),
#       the maildir DIR/mail/bounces; starts dovecot; writes DIR/env (shell
#       assignments: IMAP_PORT IMAPS_PORT POP3_PORT POP3S_PORT MAIL_USER
#       PASSWORD MAILDIR MAIL_UID MAIL_GID) and waits until all four ports answer.
#   tests/bounce/dovecot.sh stop DIR    stops it (by its pid file) and removes DIR.
# Exits 77 when dovecot or openssl is missing (the caller skips).
set -euo pipefail

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || {
	echo "usage: $0 start|stop DIR" >&2
	exit 2
}
PY=/usr/bin/python3

free_port() {
	$PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {
	local port=$1 end=$((SECONDS + $2))
	while [ $SECONDS -lt $end ]; do
		$PY -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' \
			"$port" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

stop() {
	if [ -s "$dir/run/master.pid" ]; then
		local pid
		pid=$(cat "$dir/run/master.pid")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -rf "$dir"
}

case "$cmd" in
stop)
	stop
	exit 0
	;;
start) ;;
*)
	echo "usage: $0 start|stop DIR" >&2
	exit 2
	;;
esac

[ -x /usr/sbin/dovecot ] && [ -x /usr/lib/dovecot/imap ] && [ -x /usr/lib/dovecot/pop3 ] || {
	echo "dovecot.sh: dovecot-imapd/dovecot-pop3d not installed" >&2
	exit 77
}
command -v openssl >/dev/null || {
	echo "dovecot.sh: openssl not installed" >&2
	exit 77
}

mkdir -p "$dir/run" "$dir/state" "$dir/mail"
dir=$(cd "$dir" && pwd)

# Users: as root, the login and internal processes run as Debian's dovenull and
# dovecot users and the mail as nobody (Dovecot refuses mail access as UID 0);
# otherwise everything runs as the caller.
if [ "$(id -u)" = 0 ]; then
	login_user=dovenull
	internal_user=dovecot
	mail_user=nobody
	getent passwd dovenull >/dev/null || login_user=nobody
	getent passwd dovecot >/dev/null || internal_user=nobody
else
	login_user=$(id -un)
	internal_user=$login_user
	mail_user=$login_user
fi
mail_uid=$(id -u "$mail_user")
mail_gid=$(id -g "$mail_user")

password="pw-$($PY -c 'import secrets; print(secrets.token_hex(8))')"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1
chmod 0644 "$dir/key.pem"
# The passwd-file: user:{PLAIN}password:uid:gid::home. A second user, "nomove",
# shares the maildir but gets a capability list without MOVE and UIDPLUS (the
# client's fallbacks).
printf 'bounces:{PLAIN}%s:%s:%s::%s/mail/bounces\n' "$password" "$mail_uid" "$mail_gid" "$dir" >"$dir/passwd"
printf 'nomove:{PLAIN}%s:%s:%s::%s/mail/bounces::userdb_imap_capability=IMAP4rev1\n' \
	"$password" "$mail_uid" "$mail_gid" "$dir" >>"$dir/passwd"
chmod 0644 "$dir/passwd"
mkdir -p "$dir/mail/bounces/Maildir/new" "$dir/mail/bounces/Maildir/cur" "$dir/mail/bounces/Maildir/tmp"
chown -R "$mail_uid:$mail_gid" "$dir/mail"
chmod 0755 "$dir" "$dir/run" "$dir/state"

imap=$(free_port)
imaps=$(free_port)
pop3=$(free_port)
pop3s=$(free_port)

cat >"$dir/dovecot.conf" <<CONF
# Private test instance; see tests/bounce/dovecot.sh.
protocols = imap pop3
listen = 127.0.0.1
base_dir = $dir/run
state_dir = $dir/state
instance_name = bulletin-test-$$
log_path = $dir/dovecot.log
info_log_path = $dir/dovecot.log
default_login_user = $login_user
default_internal_user = $internal_user
first_valid_uid = $mail_uid
last_valid_uid = $mail_uid
first_valid_gid = 0
disable_plaintext_auth = no
auth_mechanisms = plain login
ssl = yes
auth_failure_delay = 0
ssl_cert = <$dir/cert.pem
ssl_key = <$dir/key.pem
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  mailbox Processed {
    auto = create
  }
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN $dir/passwd
}
userdb {
  driver = passwd-file
  args = $dir/passwd
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $imap
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $imaps
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $pop3
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = $pop3s
    ssl = yes
  }
}
# No auth penalty (the wrong-password tests would wait seconds each).
service anvil {
  chroot =
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0666
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
pop3_uidl_format = %08Xu%08Xv
protocol imap {
  mail_max_userip_connections = 100
}
protocol pop3 {
  mail_max_userip_connections = 100
}
CONF

/usr/sbin/dovecot -c "$dir/dovecot.conf"
for p in $imap $imaps $pop3 $pop3s; do
	wait_port "$p" 20 || {
		echo "dovecot.sh: port $p did not open; log:" >&2
		cat "$dir/dovecot.log" >&2 || true
		exit 1
	}
done
cat >"$dir/env" <<ENV
IMAP_PORT=$imap
IMAPS_PORT=$imaps
POP3_PORT=$pop3
POP3S_PORT=$pop3s
MAIL_USER=bounces
PASSWORD=$password
MAILDIR=$dir/mail/bounces/Maildir
MAIL_UID=$mail_uid
MAIL_GID=$mail_gid
ENV
