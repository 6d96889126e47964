#!/bin/bash
# The one script to run on the GPU machine (see tools/gpu/README.md): names the adapter, runs
# the WebGPU matmul schedules against PyTorch's fp32 matmul (TF32 off) and the WebGPU tests.
# Everything it writes goes to $OUT.
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
xz -T8 -dc .deno-gpu/deno.xz > /tmp/deno && chmod +x /tmp/deno
export DENO_DIR=$PWD/.deno-gpu/denodir NO_COLOR=1 OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
C="--config tools/gpu/deno.json --no-lock --cached-only"
probe() {
  timeout 60 /tmp/deno eval 'const a = await navigator.gpu.requestAdapter();
    const i = a?.info; console.log(i?.vendor, i?.device, i?.description)'
}
info=$(probe 2>&1)
if ! echo "$info" | grep -qi nvidia; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  info=$(probe 2>&1)
fi
echo "adapter: $info"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
# One after the other: two processes sharing the GPU would time each other.
PYTHONUNBUFFERED=1 timeout 120 python3 tools/gpu/torch_matmul.py 2>&1 | tee "$OUT/torch.log"
timeout 150 /tmp/deno run -A $C tools/gpu/matmul.ts 2>&1 | tee "$OUT/matmul.log"
[ "${TESTS:-1}" = 0 ] && exit 0
# --no-check: type-checking would need packages (vega-lite) that stay behind.
for t in wgsl_backend wgsl_runtime wgsl_property numerics bounds bounds_property; do
  [ -f "tests/${t}_test.ts" ] || continue
  timeout 200 /tmp/deno test -A --no-check $C "tests/${t}_test.ts" > "$OUT/$t.log" 2>&1
  echo "$t: rc=$?"; grep -E "FAILED|passed|failed|error:" "$OUT/$t.log" | tail -12
done
