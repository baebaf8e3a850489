#!/usr/bin/env bash
# Screenshot an HTML report with Debian's chromium, headless, without root.
#
#   scripts/screenshot-report.sh <report.html> <out.png> [width] [height]
#
# On first use it downloads chromium and the shared libraries a minimal Debian 12 (bookworm)
# image lacks with `apt-get download` (no root needed; about 120 MB), unpacks them with
# `dpkg-deb -x` into $RAGAR_CHROMIUM_CACHE (default ~/.cache/ragar-chromium) and runs the binary
# from there with LD_LIBRARY_PATH. Needs: apt-get with package lists (apt-get update done once),
# dpkg-deb, ldd, and some system fonts (fonts-dejavu-core) for readable text.
# The viewport is the screenshot: width × height (default 1200 × 2000) from the top of the page.
# Not used by tests or CI.
set -euo pipefail

die() { echo "screenshot-report: $*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: $0 <report.html> <out.png> [width] [height]"
html=$1
out=$2
width=${3:-1200}
height=${4:-2000}
[ -f "$html" ] || die "no such file: $html"
[[ "$width" =~ ^[0-9]+$ && "$height" =~ ^[0-9]+$ ]] || die "width and height must be whole numbers, got '$width' and '$height'"

cache=${RAGAR_CHROMIUM_CACHE:-$HOME/.cache/ragar-chromium}
root=$cache/root
bin=$root/usr/lib/chromium/chromium

# chromium itself, plus the libraries `ldd` reported missing on a minimal bookworm image.
packages=(
  chromium chromium-common
  libopenh264-7 libdouble-conversion3 libharfbuzz-subset0 libpulse0 libflac12 libopus0
  libxnvctrl0 libminizip1 libopenjp2-7 libogg0 libsndfile1 libasyncns0 libvorbis0a
  libvorbisenc2 libmpg123-0 libmp3lame0
)

if [ ! -x "$bin" ]; then
  command -v apt-get >/dev/null || die "apt-get not found: this script needs a Debian/Ubuntu system"
  command -v dpkg-deb >/dev/null || die "dpkg-deb not found"
  echo "screenshot-report: chromium not cached in $cache; downloading ${#packages[@]} Debian packages (about 120 MB)..." >&2
  mkdir -p "$cache/debs"
  if ! (cd "$cache/debs" && apt-get download "${packages[@]}" >&2 2> >(grep -v '^W: Download is performed unsandboxed' >&2)); then
    die "apt-get download failed (see above). If it says 'Unable to locate package', run 'apt-get update' (as root) or check that the Debian mirrors are reachable."
  fi
  echo "screenshot-report: unpacking into $root ..." >&2
  rm -rf "$root.partial"
  mkdir -p "$root.partial"
  for deb in "$cache"/debs/*.deb; do dpkg-deb -x "$deb" "$root.partial"; done
  rm -rf "$root"
  mv "$root.partial" "$root"
  [ -x "$bin" ] || die "unpacked the packages but $bin is missing"
fi

libpath=
for d in "$root"/usr/lib/*-linux-gnu "$root"/usr/lib/*-linux-gnu/pulseaudio "$root/usr/lib/chromium"; do
  [ -d "$d" ] && libpath=${libpath:+$libpath:}$d
done
export LD_LIBRARY_PATH=$libpath${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

missing=$(ldd "$bin" | awk '/not found/ {print $1}' | sort -u | tr '\n' ' ')
if [ -n "$missing" ]; then
  die "chromium still lacks shared libraries: $missing
Find their Debian packages (e.g. on packages.debian.org), add them to 'packages' in $0, and delete $cache to re-download."
fi

if command -v fc-list >/dev/null && [ "$(fc-list | wc -l)" -eq 0 ]; then
  echo "screenshot-report: warning: no system fonts found; text will render as boxes (install fonts-dejavu-core)" >&2
fi

abs_html=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
mkdir -p "$(dirname "$out")"
abs_out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
profile=$(mktemp -d "${TMPDIR:-/tmp}/ragar-chromium-profile.XXXXXX")
log=$profile.log
trap 'rm -rf "$profile"' EXIT
rm -f "$abs_out"
# A proper file:// URL (spaces and other characters percent-encoded) when node is at hand.
url=$(node -e 'console.log(require("node:url").pathToFileURL(process.argv[1]).href)' "$abs_html" 2>/dev/null || echo "file://$abs_html")

echo "screenshot-report: rendering $abs_html at ${width}x${height} ..." >&2
status=0
timeout 120 "$bin" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
  --force-device-scale-factor=1 --user-data-dir="$profile" \
  --screenshot="$abs_out" --window-size="$width,$height" "$url" >"$log" 2>&1 || status=$?

if [ ! -s "$abs_out" ]; then
  tail -20 "$log" >&2
  die "chromium exited with status $status and wrote no screenshot (full log: $log)"
fi
rm -f "$log"
echo "$abs_out"
