"""Run on a GPU machine by tools/gpu/run.sh: PyTorch fp32 matmul (cuBLAS, TF32 off), the peer
for tools/gpu/matmul.ts, timed with CUDA events, median of 7."""
import torch, time
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
for n in (1024, 4096):
    a = torch.randn(n, n, device="cuda"); b = torch.randn(n, n, device="cuda")
    for _ in range(3): a @ b
    torch.cuda.synchronize()
    ts = []
    for _ in range(7):
        s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
        reps = 20 if n == 4096 else 200
        s.record()
        for _ in range(reps): a @ b
        e.record(); torch.cuda.synchronize()
        ts.append(s.elapsed_time(e) / reps)
    ts.sort(); m = ts[len(ts)//2]
    print(f"torch fp32 (tf32 off) matmul {n}: median {m:.3f} ms, {2*n**3/m/1e9:.2f} TFLOP/s  torch {torch.__version__} {torch.cuda.get_device_name()}")
