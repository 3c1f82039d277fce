# Shared helpers for the deploy/ scripts. Source it; do not run it.
# Everything installed goes under $USERCENTER_CACHE (default ~/.cache/usercenter), outside the clone,
# so a fresh clone on the same machine reuses it.

USERCENTER_CACHE=${USERCENTER_CACHE:-"$HOME/.cache/usercenter"}
TOOLS="$USERCENTER_CACHE/tools"
NISSHI_VERSION=0.8.1
NISSHI_BIN="$TOOLS/nisshi-$NISSHI_VERSION/bin/nisshi"
PEER_VENV="$TOOLS/peer-venv"
PEER_PY="$PEER_VENV/bin/python"

say() { printf '[usercenter] %s\n' "$*" >&2; }
die() { printf '[usercenter] error: %s\n' "$*" >&2; exit 1; }
