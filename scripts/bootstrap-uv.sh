#!/bin/sh
# `make uv` when uv is not on PATH: a private uv in DIR (DIR/bin/uv), never in the system Python, which
# PEP 668 forbids pip to change on Debian 12, Ubuntu 23.04+ and Fedora ("externally-managed-environment").
# Usage: scripts/bootstrap-uv.sh PYTHON DIR
set -eu
python=$1
dir=$2
[ -x "$dir/bin/uv" ] && exit 0
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

install() {
	"$@" uv || {
		rm -rf "$dir"
		echo "gigaam-api: pip could not install uv into $dir (see above)" >&2
		exit 1
	}
}

rm -rf "$dir"
echo "uv is not on PATH: installing it into $dir"
# A venv of its own (Debian: package python3-venv) comes with its own pip. Without one, the Python's
# pip with --target (Debian: python3-pip), which PEP 668 allows: it leaves the Python's packages alone.
if "$python" -m venv "$dir" >/dev/null 2>&1 && "$dir/bin/python" -m pip --version >/dev/null 2>&1; then
	install "$dir/bin/python" -m pip install --quiet
elif "$python" -m pip --version >/dev/null 2>&1; then
	rm -rf "$dir"
	install "$python" -m pip install --quiet --target "$dir"
else
	rm -rf "$dir"
	cat >&2 <<MSG
gigaam-api: uv is not on PATH, and $python has neither venv nor pip to install it with.
  Install one of them, then run make again:
    uv:           https://docs.astral.sh/uv/getting-started/installation/
    venv or pip:  sudo apt-get install python3-venv   (Debian, Ubuntu; or python3-pip)
  or name another Python: make PYTHON=/path/to/python3 ...
MSG
	exit 1
fi
