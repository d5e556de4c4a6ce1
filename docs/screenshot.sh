#!/usr/bin/env bash
# Build the documentation site, serve it on 127.0.0.1 and take headless-chromium
# screenshots of the home page, API reference pages and a recipe, to look at as a reader would.
#
#   bash docs/screenshot.sh [OUT_DIR]        (default: .screenshots/, which git ignores)
#
# Needs the docs extra (`pip install -e ".[docs]"`) and Debian's chromium
# (`apt-get install -y chromium`). PYTHON overrides the interpreter (default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-.venv/bin/python}"
out="${1:-.screenshots}"
browser="$(command -v chromium || command -v chromium-browser || true)"
if [[ -z "$browser" ]]; then
    echo "screenshot.sh: chromium not found; install it with: apt-get install -y chromium" >&2
    exit 1
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

NO_MKDOCS_2_WARNING=1 "$python" -m mkdocs build --strict --quiet --site-dir "$work/site"

# A free port, then a static server on loopback only.
port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$python" -m http.server "$port" --bind 127.0.0.1 --directory "$work/site" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do
    if "$python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/')" 2>/dev/null; then
        break
    fi
    sleep 0.1
done

mkdir -p "$out"
shoot() {  # shoot PAGE PNG
    "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$(mktemp -d "$work/profile.XXXX")" \
        --hide-scrollbars --window-size=1280,1800 --virtual-time-budget=5000 \
        --screenshot="$out/$2" "http://127.0.0.1:$port/$1" >"$work/chromium.log" 2>&1 || {
        cat "$work/chromium.log" >&2
        return 1
    }
    echo "$out/$2"
}
shoot index.html home.png
shoot reference/client.html reference-client.png
shoot reference/models.html reference-models.png
shoot recipes/temporal.html recipe-temporal.png
