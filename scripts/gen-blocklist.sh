#!/usr/bin/env bash
# Regenerates internal/password/blocklist/blocklist.txt.gz, the password
# blocklist embedded in package internal/password (NIST SP 800-63B
# "commonly-used, expected or compromised" values and dictionary words).
#
# Sources (pinned; licences in internal/password/blocklist/README.md):
#   npm    @zxcvbn-ts/language-common@4.1.3  src/passwords.json         (MIT)
#   npm    @zxcvbn-ts/language-en@4.1.1      src/commonWords.json       (MIT; data ODC-BY, OpenSubtitles via OPUS)
#                                            src/wikipedia.json, firstnames.json, lastnames.json (MIT)
#   Debian wamerican 2020.12.07-2            /usr/share/dict/american-english (SCOWL, permissive)
# Debian cracklib-runtime (cracklib-small) is deliberately NOT used: it is
# LGPL-2.1, and embedding it would put copyleft terms on the binary while
# adding almost nothing that wamerican does not already have.
#
# Needs: npm (registry access), apt-get (root) or wamerican already
# installed, go. Output is deterministic for the same inputs (sorted,
# gzip -n drops name and time stamp).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/internal/password/blocklist/blocklist.txt.gz"
min_len=${MIN_LEN:-8}
common_pkg=@zxcvbn-ts/language-common@4.1.3
en_pkg=@zxcvbn-ts/language-en@4.1.1
wamerican_version=2020.12.07-2
dict=/usr/share/dict/american-english

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ ! -r "$dict" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "gen-blocklist: $dict missing; install Debian package wamerican" >&2
		exit 1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wamerican >/dev/null
fi
have=$(dpkg-query -W -f='${Version}' wamerican 2>/dev/null || echo unknown)
if [ "$have" != "$wamerican_version" ]; then
	echo "gen-blocklist: warning: wamerican $have installed, list was built from $wamerican_version" >&2
fi

(cd "$tmp" && npm pack --silent "$common_pkg" "$en_pkg" >/dev/null)
for tgz in "$tmp"/*.tgz; do
	d="${tgz%.tgz}"
	mkdir -p "$d"
	tar -xzf "$tgz" -C "$d"
done
common="$tmp/zxcvbn-ts-language-common-4.1.3/package/src"
en="$tmp/zxcvbn-ts-language-en-4.1.1/package/src"

cd "$root"
go run ./internal/password/blocklist/gen.go -min "$min_len" \
	"$common/passwords.json" \
	"$en/commonWords.json" \
	"$en/wikipedia.json" \
	"$en/firstnames.json" \
	"$en/lastnames.json" \
	"$dict" |
	gzip -9n >"$out.tmp"
mv "$out.tmp" "$out"
echo "gen-blocklist: wrote $out ($(wc -c <"$out") bytes, $(gzip -dc "$out" | wc -l) entries)" >&2
