#!/bin/bash
# Builds what a GPU machine without registry access needs to run Tessera's WebGPU code, in
# two git-ignored folders that travel with the tree (name both in the device tool's `carry`):
#   .gl/        the Vulkan and GL loader packages from Debian (the GPU machine may lack them)
#   .deno-gpu/  Deno's binary, xz-compressed (~30 MB), and a Deno cache holding only the npm
#               packages the WebGPU tests and tools/gpu/matmul.ts import (tools/gpu/deno.json)
# The whole tree must stay under 64 MiB, which is why tfjs and onnxruntime do not travel.
set -euo pipefail
cd "$(dirname "$0")/../.."
deno_bin=$(find ~/.npm/_npx -path '*node_modules/deno/deno' -type f | head -1)
[ -n "$deno_bin" ] || { npx -y deno@2.9.6 --version >/dev/null; deno_bin=$(find ~/.npm/_npx -path '*node_modules/deno/deno' -type f | head -1); }
mkdir -p .deno-gpu .gl /tmp/amd64/partial
[ -f .deno-gpu/deno.xz ] || xz -T2 -6 -c "$deno_bin" > .deno-gpu/deno.xz
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
apt-get $o update -qq
(cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
DENO_DIR=$PWD/.deno-gpu/denodir npx -y deno@2.9.6 cache --config tools/gpu/deno.json --no-lock \
  tests/wgsl_property_test.ts tests/wgsl_backend_test.ts tests/wgsl_runtime_test.ts \
  tests/numerics_test.ts tests/bounds_test.ts tests/bounds_property_test.ts tools/gpu/matmul.ts
du -sh .gl .deno-gpu
