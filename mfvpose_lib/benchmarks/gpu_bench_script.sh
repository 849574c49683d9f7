#!/usr/bin/env bash
# The benchmark suite on a CUDA GPU, one command: writes figures/bench/gpu-<name>.csv
set -euo pipefail
name=$(python -c "import torch; print(torch.cuda.get_device_name(0).lower().replace(' ', '-'))")
python -m mfvpose_lib bench --device cuda --csv "figures/bench/gpu-${name}.csv" \
    --note "measured with mfvpose_lib/benchmarks/gpu_bench_script.sh on ${name}" "$@"
