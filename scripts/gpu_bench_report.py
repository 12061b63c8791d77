#!/usr/bin/env python3
"""The report of scripts/gpu-bench.sh: merges what its parts wrote in OUTDIR
into OUTDIR/gpu-bench.json and a markdown table, OUTDIR/gpu-bench.md.

The ratios the issue's goals name: vklars' ResNet-18 images/s over PyTorch's
in each mode, and each conv row of `bench ops` as a share of the card's fp32
FMA peak (--peak-tflops, default 67: the H200 SXM datasheet's fp32 figure)."""
import argparse
import json
import os
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return {"error": "%s: %s" % (os.path.basename(path), e)}


def parts(out):
    rows = {}
    try:
        with open(os.path.join(out, "parts.tsv")) as f:
            for line in f:
                name, rc, secs = line.rstrip("\n").split("\t")
                rows[name] = {"exit": int(rc), "seconds": int(secs)}
    except OSError:
        pass
    return rows


def tests(out):
    res = {"passed": [], "failed": []}
    try:
        with open(os.path.join(out, "tests", "results.txt")) as f:
            for line in f:
                name, rc = line.split()
                res["passed" if rc == "0" else "failed"].append(name)
    except OSError as e:
        res["error"] = str(e)
    return res


# Names drivers give the statistics the goals are about.
SPILLS = ("Spilled VGPRs", "Spilled SGPRs", "Local Memory Size", "Stack Size", "Scratch size")
REGISTERS = ("VGPRs", "Register Count", "Registers")


def kernels_summary(k):
    if "pipelines" not in k:
        return k
    worst_regs, spilled, named = 0, [], 0
    for p in k["pipelines"]:
        for e in p.get("executables", []):
            s = e.get("statistics", {})
            named += 1
            for r in REGISTERS:
                if r in s:
                    worst_regs = max(worst_regs, s[r])
            if any(s.get(n, 0) for n in SPILLS):
                spilled.append(p["shader"])
    return {
        "device": k.get("device", {}).get("name"),
        "geometry": k.get("geometry"),
        "pipelines": len(k["pipelines"]),
        "with_statistics": named,
        "most_registers": worst_regs,
        "spilling": sorted(set(spilled)),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--peak-tflops", type=float, default=67.0)
    a = ap.parse_args()
    out = a.out
    report = {
        "parts": parts(out),
        "tests": tests(out),
        "kernels": {m: load(os.path.join(out, "kernels_%s.json" % m)) for m in ("resnet18", "cnn")},
        "bench_ops": load(os.path.join(out, "bench_ops.json")),
        "train": load(os.path.join(out, "train.json")),
        "torch": load(os.path.join(out, "torch.json")),
        "peak_fp32_tflops": a.peak_tflops,
    }
    try:
        with open(os.path.join(out, "devices.txt")) as f:
            report["devices"] = f.read()
    except OSError:
        pass
    with open(os.path.join(out, "gpu-bench.json"), "w") as f:
        json.dump(report, f, indent=1)

    md = ["# vklars GPU benchmark", ""]
    ops = report["bench_ops"]
    md.append("Device: %s (%s)" % (ops.get("device", "?"), ops.get("driver", "?")))
    md += ["", "| part | exit | seconds |", "|---|---|---|"]
    for name, p in report["parts"].items():
        md.append("| %s | %d | %d |" % (name, p["exit"], p["seconds"]))
    t = report["tests"]
    md += ["", "Tests: %d suites passed, %d failed%s" % (
        len(t["passed"]), len(t["failed"]), (": " + ", ".join(t["failed"])) if t["failed"] else "")]

    md += ["", "## ResNet-18 training, CIFAR shape (3x32x32), SGD", "",
           "| run | images/s | vklars / this |", "|---|---|---|"]
    ours = report["train"].get("images_per_s")
    md.append("| vklars (fp32, %s steps after warm-up) | %s | 1.00 |" % (
        report["train"].get("steps", "?"), "%.0f" % ours if ours else report["train"].get("error", "failed")))
    for mode, r in report["torch"].get("modes", {}).items():
        ips = r.get("images_per_s")
        ratio = "%.2f" % (ours / ips) if ours and ips else "-"
        md.append("| PyTorch %s | %s | %s |" % (mode, "%.0f" % ips if ips else r.get("error"), ratio))
    if "error" in report["torch"]:
        md.append("| PyTorch | %s | - |" % report["torch"]["error"])

    md += ["", "## bench ops: convolutions against the fp32 FMA peak (%.0f TFLOP/s)" % a.peak_tflops, "",
           "| op | ms | GFLOP/s | of peak | vs GEMM baseline |", "|---|---|---|---|---|"]
    for row in ops.get("ops", []):
        if row.get("unit") != "GFLOP/s":
            continue
        md.append("| %s | %.3f | %.0f | %.1f%% | %.2f |" % (
            row["name"], row["median_ms"], row["rate"], 100 * row["rate"] / (1000 * a.peak_tflops),
            row["vs_baseline"]))

    md += ["", "## kernels (compiler statistics)", "",
           "| model | pipelines | with statistics | most registers | spilling |", "|---|---|---|---|---|"]
    for m, k in report["kernels"].items():
        s = kernels_summary(k)
        if "pipelines" not in s:
            md.append("| %s | %s | | | |" % (m, s.get("error", "failed")))
        else:
            md.append("| %s | %d | %d | %s | %s |" % (m, s["pipelines"], s["with_statistics"],
                                                   s["most_registers"], ", ".join(s["spilling"]) or "none"))
    with open(os.path.join(out, "gpu-bench.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
