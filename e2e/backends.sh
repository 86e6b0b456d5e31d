#!/usr/bin/env bash
# backends.sh start|stop|install [mediawiki|tiddlywiki|wordpress|all]
#
# Installs (when missing; install does only that), starts and stops the real backends that
# the e2e tests put hooktap in front of: MediaWiki 1.39 (Debian, SQLite, php -S), TiddlyWiki
# 5.4.1 (npm, node) and WordPress 6.1 (Debian, MariaDB, php -S). Each server listens on 127.0.0.1 only and runs in
# its own process group (setsid), which stop kills as a whole (php -S workers would otherwise
# outlive their master). Every start is a fresh install of the site: state from an earlier run
# is wiped.
#
# Environment:
#   HOOKTAP_E2E_DIR    state dir (default /tmp/hooktap-e2e); <backend>.env there holds the
#                      URL and credentials of a started backend as KEY=value lines
#   HOOKTAP_E2E_CACHE  where the tiddlywiki npm package is kept between runs
#                      (default ${XDG_CACHE_HOME:-$HOME/.cache}/hooktap-e2e)
#   MW_PORT, TW_PORT, WP_PORT   ports (defaults 18480, 18481, 18482)
#   MW_SERVER          MediaWiki's $wgServer (default http://127.0.0.1:$MW_PORT): the address
#                      in its redirects and links; a browser test sets it to hooktap's address
#   WP_HOST            the loopback address WordPress listens on and is called by (default
#                      127.0.0.1); its Host names Debian's config file,
#                      /etc/wordpress/config-<WP_HOST>.php, which is machine-wide: two
#                      WordPress backends at once need two addresses (127.0.0.2, ...)
#   WP_PERMALINKS      "pretty" (default: /%postname%/, REST under /wp-json/) or "plain" (a
#                      fresh install's default: REST only as /?rest_route=...)
#
# Installing needs root (apt-get); the script never reads standard input and never lets a
# package's postinst start a system daemon (a temporary /usr/sbin/policy-rc.d that exits 101).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
exec </dev/null

DIR=${HOOKTAP_E2E_DIR:-/tmp/hooktap-e2e}
CACHE=${HOOKTAP_E2E_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/hooktap-e2e}
MW_PORT=${MW_PORT:-18480}
TW_PORT=${TW_PORT:-18481}
WP_PORT=${WP_PORT:-18482}
TW_VERSION=5.4.1
MW_PASS=AdminPass-12345
MW_BOTPASS=0123456789abcdef0123456789abcdef
TW_USER=alice TW_PASS=secret123
WP_PASS=AdminPass-12345
WP_PERMALINKS=${WP_PERMALINKS:-pretty}
WP_HOST=${WP_HOST:-127.0.0.1}

log() { echo "backends.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# bg_group PIDFILE CMD... starts CMD in a new session (its own process group); PIDFILE gets
# its pid, which is also the group id. Output goes to PIDFILE.log.
# Descriptors above 2 are closed in it: a caller's "flock LOCK backends.sh start" would
# otherwise leave LOCK held by the server for as long as it runs (flock -o is the caller's
# way; this one holds whoever calls).
bg_group() { local pf=$1; shift; setsid sh -c 'for fd in 3 4 5 6 7 8 9; do eval "exec $fd>&-"; done; echo $$ > "$0"; exec "$@"' "$pf" "$@" >"$pf.log" 2>&1 </dev/null & }

# wait_pidfile PIDFILE waits for bg_group to have written PIDFILE.
wait_pidfile() { for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.05; done; die "no pid in $1"; }

# wait_http CURL-ARGS... polls until curl succeeds (30 s at most).
wait_http() { for _ in $(seq 300); do curl -sf -o /dev/null "$@" && return 0; sleep 0.1; done; die "timeout waiting for $*"; }

# kill_group PIDFILE stops the process group named in PIDFILE: TERM, then KILL after 10 s.
kill_group() {
	local pf=$1 pg
	[ -s "$pf" ] || return 0
	pg=$(cat "$pf")
	if kill -0 -- "-$pg" 2>/dev/null; then
		kill -TERM -- "-$pg" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 -- "-$pg" 2>/dev/null || break; sleep 0.1; done
		kill -KILL -- "-$pg" 2>/dev/null || true
	fi
	rm -f "$pf"
}

# ensure_pkgs PKG... installs the Debian packages that are not installed yet.
APT_UPDATED=
ensure_pkgs() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || die "packages missing (${missing[*]}) and not root: install them first"
	local made_policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		# Keep postinst scripts from starting apache2 / the system mariadb on 0.0.0.0.
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		made_policy=1
	fi
	log "installing ${missing[*]}"
	local rc=0
	{
		if [ -z "$APT_UPDATED" ]; then apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null && APT_UPDATED=1; fi &&
		apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
	} || rc=$?
	[ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
	[ $rc -eq 0 ] || die "apt-get install ${missing[*]} failed ($rc)"
}

# envfile NAME KEY=VALUE... writes DIR/NAME.env atomically.
envfile() { local f="$DIR/$1.env"; shift; printf '%s\n' "$@" > "$f.tmp"; mv "$f.tmp" "$f"; }

start_mediawiki() {
	ensure_pkgs mediawiki php-sqlite3 php-cli
	stop_mediawiki
	local d="$DIR/mediawiki"
	rm -rf "$d"; mkdir -p "$d/data" "$d/conf" "$d/images"
	export MW_CONFIG_FILE="$d/conf/LocalSettings.php"
	( cd /usr/share/mediawiki &&
	  php maintenance/install.php --dbtype=sqlite --dbpath="$d/data" --dbname=wiki \
		--server="${MW_SERVER:-http://127.0.0.1:$MW_PORT}" --scriptpath="" --lang=en \
		--pass="$MW_PASS" --confpath="$d/conf" --skins=Vector TestWiki Admin >"$d/install.log" 2>&1 ) ||
		{ cat "$d/install.log" >&2; die "mediawiki install.php failed"; }
	cat >> "$MW_CONFIG_FILE" <<PHP
\$wgEnableUploads = true;
\$wgUploadDirectory = "$d/images";
\$wgUseImageMagick = false;
\$wgEnableEmail = false;
\$wgRCWatchCategoryMembership = true;
\$wgJobRunRate = 0;
\$wgRCMaxAge = 365 * 86400;
\$wgFileExtensions[] = 'txt';
\$wgVerifyMimeType = false;
\$wgGroupPermissions['sysop']['deletelogentry'] = true;
PHP
	( cd /usr/share/mediawiki &&
	  php maintenance/createBotPassword.php --appid=hooktap \
		--grants=basic,highvolume,editpage,createeditmovepage,delete,uploadfile,uploadeditmovefile,protect,rollback,patrol,editprotected,createaccount \
		Admin "$MW_BOTPASS" >>"$d/install.log" 2>&1 ) || { cat "$d/install.log" >&2; die "mediawiki createBotPassword failed"; }
	PHP_CLI_SERVER_WORKERS=4 bg_group "$d/php.pgid" php -S "127.0.0.1:$MW_PORT" -t /usr/share/mediawiki
	wait_pidfile "$d/php.pgid"
	wait_http "http://127.0.0.1:$MW_PORT/api.php?action=query&meta=siteinfo&format=json"
	envfile mediawiki "URL=http://127.0.0.1:$MW_PORT" "USER=Admin@hooktap" "PASS=$MW_BOTPASS" \
		"ADMIN_USER=Admin" "ADMIN_PASS=$MW_PASS" "CONFIG=$MW_CONFIG_FILE" "ROOT=/usr/share/mediawiki" "PGID=$(cat "$d/php.pgid")"
	log "mediawiki on 127.0.0.1:$MW_PORT"
}

stop_mediawiki() {
	kill_group "$DIR/mediawiki/php.pgid"
	rm -f "$DIR/mediawiki.env"
}

install_tiddlywiki() {
	command -v node >/dev/null && command -v npm >/dev/null || ensure_pkgs nodejs npm
	local pkg="$CACHE/node_modules/tiddlywiki/package.json"
	if ! grep -q "\"version\": \"$TW_VERSION\"" "$pkg" 2>/dev/null; then
		mkdir -p "$CACHE"
		log "installing tiddlywiki@$TW_VERSION into $CACHE"
		( cd "$CACHE" && npm install --no-audit --no-fund --silent --no-save "tiddlywiki@$TW_VERSION" >/dev/null ) ||
			die "npm install tiddlywiki@$TW_VERSION failed"
	fi
}

start_tiddlywiki() {
	install_tiddlywiki
	stop_tiddlywiki
	local d="$DIR/tiddlywiki" tw="$CACHE/node_modules/tiddlywiki/tiddlywiki.js"
	rm -rf "$d"; mkdir -p "$d"
	node "$tw" "$d/wiki" --init server >"$d/init.log" 2>&1 || { cat "$d/init.log" >&2; die "tiddlywiki --init failed"; }
	bg_group "$d/node.pgid" node "$tw" "$d/wiki" --listen host=127.0.0.1 port="$TW_PORT" \
		username="$TW_USER" password="$TW_PASS"
	wait_pidfile "$d/node.pgid"
	wait_http -u "$TW_USER:$TW_PASS" "http://127.0.0.1:$TW_PORT/status"
	envfile tiddlywiki "URL=http://127.0.0.1:$TW_PORT" "USER=$TW_USER" "PASS=$TW_PASS" "PGID=$(cat "$d/node.pgid")"
	log "tiddlywiki on 127.0.0.1:$TW_PORT"
}

stop_tiddlywiki() {
	kill_group "$DIR/tiddlywiki/node.pgid"
	rm -f "$DIR/tiddlywiki.env"
}

start_wordpress() {
	ensure_pkgs wordpress mariadb-server php-mysql php-cli
	stop_wordpress
	local d="$DIR/wordpress"
	rm -rf "$d"; mkdir -p "$d/db" "$d/run"
	chmod 755 "$DIR" "$d"   # mariadbd runs as user mysql and must enter its dirs
	chown mysql:mysql "$d/db" "$d/run"
	mariadb-install-db --user=mysql --datadir="$d/db" --auth-root-authentication-method=socket \
		--skip-test-db >"$d/install.log" 2>&1 || { cat "$d/install.log" >&2; die "mariadb-install-db failed"; }
	local sock="$d/run/mysqld.sock"
	bg_group "$d/mysqld.pgid" mariadbd --user=mysql --datadir="$d/db" --socket="$sock" --skip-networking \
		--pid-file="$d/run/mysqld.pid" --log-error="$d/mysqld.err" --innodb-buffer-pool-size=64M
	wait_pidfile "$d/mysqld.pgid"
	local ok=
	for _ in $(seq 300); do mariadb-admin --socket="$sock" ping >/dev/null 2>&1 && { ok=1; break; }; sleep 0.1; done
	[ -n "$ok" ] || { cat "$d/mysqld.err" >&2; die "mariadbd did not start"; }
	mariadb --socket="$sock" -e "CREATE DATABASE wordpress; CREATE USER 'wp'@'localhost' IDENTIFIED BY 'wp'; GRANT ALL ON wordpress.* TO 'wp'@'localhost';"
	cp -a /var/lib/wordpress/wp-content "$d/wp-content"
	mkdir -p "$d/wp-content/uploads"; chmod -R a+rwX "$d/wp-content"
	# Debian's wp-config.php loads /etc/wordpress/config-<Host header without port>.php.
	cat > /etc/wordpress/config-$WP_HOST.php <<PHP
<?php
define('DB_NAME','wordpress'); define('DB_USER','wp'); define('DB_PASSWORD','wp');
define('DB_HOST','localhost:$sock'); define('DB_CHARSET','utf8mb4'); define('DB_COLLATE','');
foreach (['AUTH_KEY','SECURE_AUTH_KEY','LOGGED_IN_KEY','NONCE_KEY','AUTH_SALT','SECURE_AUTH_SALT','LOGGED_IN_SALT','NONCE_SALT'] as \$k) define(\$k, 'test-'.\$k);
define('WP_CONTENT_DIR', '$d/wp-content');
define('WP_ENVIRONMENT_TYPE', 'local');   // application passwords over plain http
define('DISABLE_WP_CRON', true);
define('WP_HOME', 'http://$WP_HOST:$WP_PORT'); define('WP_SITEURL', 'http://$WP_HOST:$WP_PORT');
PHP
	cat > "$d/install.php" <<'PHP'
<?php
$_SERVER['HTTP_HOST'] = getenv('WP_HOST'); $_SERVER['REQUEST_URI'] = '/';
define('WP_INSTALLING', true);
require '/usr/share/wordpress/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
wp_install('TestBlog', 'admin', 'admin@example.com', true, '', $argv[2]);
if ($argv[3] === 'pretty') update_option('permalink_structure', '/%postname%/');
[$pw] = WP_Application_Passwords::create_new_application_password(get_user_by('login', 'admin')->ID, ['name' => 'hooktap']);
file_put_contents($argv[1], $pw);
PHP
	case $WP_PERMALINKS in pretty|plain) ;; *) die "WP_PERMALINKS=$WP_PERMALINKS: want pretty or plain" ;; esac
	case $WP_HOST in 127.[0-9]*.[0-9]*.[0-9]*) ;; *) die "WP_HOST=$WP_HOST: want a 127.x.y.z loopback address" ;; esac
	WP_HOST=$WP_HOST php "$d/install.php" "$d/app-password" "$WP_PASS" "$WP_PERMALINKS" >>"$d/install.log" 2>&1 || true   # prints a harmless "sendmail: not found"
	[ -s "$d/app-password" ] || { cat "$d/install.log" >&2; die "wordpress install failed"; }
	PHP_CLI_SERVER_WORKERS=4 bg_group "$d/php.pgid" php -S "$WP_HOST:$WP_PORT" -t /usr/share/wordpress
	wait_pidfile "$d/php.pgid"
	wait_http "http://$WP_HOST:$WP_PORT/?rest_route=/"
	envfile wordpress "URL=http://$WP_HOST:$WP_PORT" "USER=admin" "PASS=$(cat "$d/app-password")" \
		"ADMIN_PASS=$WP_PASS" "SOCKET=$sock" "PERMALINKS=$WP_PERMALINKS" "PGID=$(cat "$d/php.pgid")"
	log "wordpress on $WP_HOST:$WP_PORT"
}

stop_wordpress() {
	local d="$DIR/wordpress"
	kill_group "$d/php.pgid"
	if [ -S "$d/run/mysqld.sock" ]; then mariadb-admin --socket="$d/run/mysqld.sock" shutdown >/dev/null 2>&1 || true; fi
	kill_group "$d/mysqld.pgid"
	rm -f "$DIR/wordpress.env" /etc/wordpress/config-$WP_HOST.php
}

usage() { die "usage: backends.sh start|stop|install [mediawiki|tiddlywiki|wordpress|all]"; }

[ $# -ge 1 ] && [ $# -le 2 ] || usage
cmd=$1 which=${2:-all}
case $which in
	all) set -- mediawiki tiddlywiki wordpress ;;
	mediawiki|tiddlywiki|wordpress) set -- "$which" ;;
	*) usage ;;
esac
mkdir -p "$DIR"; chmod 755 "$DIR"
case $cmd in
	start|install)
		# One apt-get run for every backend asked for, before any of them starts.
		pkgs=()
		for b in "$@"; do
			case $b in
				mediawiki) pkgs+=(mediawiki php-sqlite3 php-cli) ;;
				wordpress) pkgs+=(wordpress mariadb-server php-mysql php-cli) ;;
			esac
		done
		[ ${#pkgs[@]} -eq 0 ] || ensure_pkgs "${pkgs[@]}"
		if [ "$cmd" = install ]; then
			case " $* " in *" tiddlywiki "*) install_tiddlywiki ;; esac
		else
			for b in "$@"; do "start_$b"; done
		fi ;;
	stop) for b in "$@"; do "stop_$b"; done ;;
	*) usage ;;
esac
