#!/usr/bin/env bash
# docker-compose v1 (the Python one, from PyPI) in a private venv under .cache, for the
# black-box test that drives berthd with it. Idempotent; prints the path of docker-compose.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$PWD/.cache/compose-venv
bin=$venv/bin/docker-compose
if [ ! -x "$bin" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check \
    "PyYAML==6.0.1" "docker==6.1.3" "requests<2.32" texttable "jsonschema<5" dockerpty \
    docopt "python-dotenv<1" distro "websocket-client<1" >&2
  # 1.29.2 pins PyYAML<6, which has no wheel for this Python; 6.0.1 works for it.
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps docker-compose==1.29.2 >&2
fi
"$bin" version >/dev/null
echo "$bin"
