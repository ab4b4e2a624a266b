#!/usr/bin/env bash
# The GPU check, on the lent GPU machine (Python 3.12 with JAX for CUDA, no TensorFlow, no
# network), from the repository's root, with .whl/ carried (benchmarks/gpu_wheels.sh made it):
#
#   device run:  bash benchmarks/gpu_check.sh [STAGES]      carry: [".whl"]
#
# Installs the wheels into /tmp/site, then runs benchmarks/gpu_search.py on the JAX backend;
# every figure lands in $OUT/gpu_search.json (and the logs beside it). STAGES: a comma list of
# data,throughput,search,workers (default all). The data and caches live in .gpu/ (ignored),
# so a second call on the still-warm machine reuses them.
set -uo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 3
    export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
OUT="${OUT:-gpu-out}"
mkdir -p "$OUT"
python3 - <<'PY' 2>&1 | tee "$OUT/imports.txt"
import importlib, sys
for name in ("jax", "keras", "keras_tuner", "optuna", "sqlalchemy", "mmtune"):
    try:
        module = importlib.import_module(name)
        print(name, getattr(module, "__version__", "?"))
    except Exception as exc:  # say every missing one at once
        print(name, "MISSING:", exc)
try:
    import tensorflow  # noqa: F401
    print("tensorflow present (not used)")
except ImportError:
    print("tensorflow absent")
import jax
print("devices", jax.devices())
PY
stages="${1:-data,throughput,search,workers}"
python3 benchmarks/gpu_search.py --out "$OUT" --stages "$stages" 2>&1 | tee "$OUT/gpu_search.log"
