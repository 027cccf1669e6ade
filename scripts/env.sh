# Shared settings for the project's scripts (sourced, not run).
# The cargo target dir lives outside the clone so CI and fresh clones reuse one build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cxb/target}"
# Debian's python3 (with python3-numpy from bootstrap), whatever python3 is first on PATH.
export CXB_PYTHON="${CXB_PYTHON:-/usr/bin/python3}"
# moto's S3-compatible server (installed by scripts/bootstrap) for the recording upload tests.
export CXB_MOTO_SERVER="${CXB_MOTO_SERVER:-${XDG_CACHE_HOME:-$HOME/.cache}/cxb/venv/bin/moto_server}"
# schemathesis (installed by scripts/bootstrap) for the control API fuzz test.
export CXB_SCHEMATHESIS="${CXB_SCHEMATHESIS:-${XDG_CACHE_HOME:-$HOME/.cache}/cxb/venv/bin/schemathesis}"
