#!/usr/bin/env python3
"""PyTorch's side of scripts/gpu-bench.sh: ResNet-18 training throughput at
CIFAR shape on the same card, in fp32 (TF32 off), TF32 and AMP (bf16 autocast).

The model is vklars' resnet18 for 32x32 inputs: torchvision's ResNet-18 with
the CIFAR stem (3x3 stride-1 convolution, no max-pool). Synthetic inputs,
batch --batch, SGD with momentum; --warmup untimed steps (cuDNN's algorithm
search, the caching allocator), then --steps timed ones between CUDA events.
Writes one JSON object: each mode's images/s, or why it could not run.
"""
import argparse
import json
import sys
import time


def build_model(torch, torchvision, classes):
    m = torchvision.models.resnet18(num_classes=classes)
    m.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    m.maxpool = torch.nn.Identity()
    return m


def measure(torch, torchvision, mode, batch, steps, warmup):
    torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
    torch.backends.cudnn.allow_tf32 = mode == "tf32"
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    model = build_model(torch, torchvision, 10).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, 32, 32, device=dev)
    y = torch.randint(0, 10, (batch,), device=dev)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=mode == "amp"):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(steps):
        step()
    end.record()
    torch.cuda.synchronize()
    seconds = start.elapsed_time(end) / 1000.0
    return {"images_per_s": steps * batch / seconds, "seconds": seconds}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--json", required=True, help="where to write the results")
    a = ap.parse_args()
    result = {"batch": a.batch, "steps": a.steps, "warmup": a.warmup, "modes": {}}
    try:
        import torch
        import torchvision
    except ImportError as e:
        result["error"] = "PyTorch not importable: %s" % e
    else:
        result["torch"] = torch.__version__
        if not torch.cuda.is_available():
            result["error"] = "torch.cuda.is_available() is False"
        else:
            result["device"] = torch.cuda.get_device_name(0)
            for mode in ("fp32", "tf32", "amp"):
                t0 = time.time()
                try:
                    r = measure(torch, torchvision, mode, a.batch, a.steps, a.warmup)
                except Exception as e:  # a mode that fails is reported, the others still run
                    r = {"error": "%s: %s" % (type(e).__name__, e)}
                r["wall_s"] = time.time() - t0
                result["modes"][mode] = r
                print("torch %s: %s" % (mode, r), file=sys.stderr)
    with open(a.json, "w") as f:
        json.dump(result, f, indent=1)
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
