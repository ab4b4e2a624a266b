#!/usr/bin/env bash
# The wheels benchmarks/gpu_check.sh installs on the GPU machine, downloaded here into .whl/
# (ignored by git: listed in .git/info/exclude). That machine has Python 3.12 with JAX (CUDA),
# numpy, pandas, pillow, scikit-learn, matplotlib, pyyaml, h5py, rich, absl-py, grpcio,
# protobuf, requests, six, tqdm and typing-extensions, and no network: what mmtune needs
# beyond those travels as cp312 manylinux wheels, about 12 MB. The versions are the ones the
# tests run with here.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
wheels=(
    keras==3.15.1 namex==0.1.0 optree==0.20.0
    keras-tuner==1.4.8 kt-legacy==1.0.5
    optuna==5.0.0 sqlalchemy==2.1.9 alembic==1.20.1 mako==1.4.3 colorlog==6.12.0
)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d .whl "${wheels[@]}"
ls -l .whl
du -sh .whl
