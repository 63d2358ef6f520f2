"""Seconds per batch of HAR vs vanilla-AR sampling at GPT-B size, on the CPU.

Run: `python benchmarks/har_vs_ar.py [--batches 1 16] [--scales 1 2] [--repeats 2]`.
Prints a table and writes `benchmarks/har_vs_ar.json` beside this file.

Both models are `restok_nb.generator.from_preset("llamagen_b_har" / "llamagen_b_ar")` (dim 768,
12 layers, 12 heads, vocab 8192, N = 128), randomly initialised. The fresh output head is zero
(every logit equal), so it is re-drawn with small random weights: timings then reflect real
sampling (top-k/top-p off, temperature 1, constant CFG).
"""
import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch
from torch import nn

from restok_nb.generator import from_preset


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"): return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load() -> list[float]:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else []


def busy_cpu_seconds() -> tuple[float, float]:
    "(CPU seconds used by the whole machine, by this process) so far; (0, 0) where /proc is missing."
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        busy = sum(ticks) - ticks[3] - ticks[4]                # all but idle and iowait
        own = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        return busy / os.sysconf("SC_CLK_TCK"), (int(own[11]) + int(own[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0, 0.0


def others_cores(fn) -> tuple[float, float]:
    "Run `fn`; return its wall seconds and how many cores other processes used meanwhile (0 = no competition)."
    b0, o0, t = *busy_cpu_seconds(), time.perf_counter()
    fn()
    b1, o1, wall = *busy_cpu_seconds(), time.perf_counter() - t
    return wall, max(0.0, (b1 - b0) - (o1 - o0)) / wall


def wait_until_quiet(max_wait: float, threshold: float = 0.1):
    "Wait (at most `max_wait` seconds) until other processes use less than `threshold` cores for 2 s."
    end = time.monotonic() + max_wait
    while time.monotonic() < end:
        if others_cores(lambda: time.sleep(2.0))[1] < threshold: return


def time_one(model, batch: int, scale: float, repeats: int, quiet_wait: float) -> tuple[float, int, float]:
    "Best-of-`repeats` seconds for one batch, its forward passes, and the cores other processes used during it."
    calls = []
    hook = model.norm.register_forward_hook(lambda *_: calls.append(1))
    cond = torch.arange(batch) % model.cfg.num_classes
    runs = []
    for r in range(repeats):
        wait_until_quiet(quiet_wait)
        calls.clear()
        gen = torch.Generator().manual_seed(r)
        runs.append(others_cores(lambda: model.generate(cond, cfg_scale=scale, generator=gen)))
        if runs[-1][0] > 30 and runs[-1][1] < 0.1: break   # slow and undisturbed: one run is enough
    hook.remove()
    wall, others = min(runs)
    return wall, len(calls), others


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0, 2.0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--quiet-wait", type=float, default=120.0,
                    help="before each run, wait up to this many seconds for other processes to leave the CPU idle")
    ap.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    args = ap.parse_args()

    load_before = load()
    torch.manual_seed(0)
    models = {}
    for mode in ("har", "ar"):
        m = from_preset(f"llamagen_b_{mode}").eval()
        nn.init.normal_(m.output.weight, std=0.02)      # a zero head would make sampling degenerate
        m.generate([0], cfg_scale=2.0)                  # warm-up: allocator, kernels
        models[mode] = m

    rows = []
    for batch in args.batches:
        for scale in args.scales:
            row = dict(batch=batch, cfg_scale=scale)
            for mode, m in models.items():
                sec, passes, others = time_one(m, batch, scale, args.repeats, args.quiet_wait)
                row[f"{mode}_s"], row[f"{mode}_passes"], row[f"{mode}_others_cores"] = round(sec, 3), passes, round(others, 2)
            row["speedup"] = round(row["ar_s"] / row["har_s"], 2)
            rows.append(row)
            print(f"batch {batch:3d}  cfg {scale:3.1f}  HAR {row['har_s']:7.3f} s ({row['har_passes']} passes, "
                  f"others {row['har_others_cores']:.2f} cores)  AR {row['ar_s']:7.3f} s ({row['ar_passes']} passes, "
                  f"others {row['ar_others_cores']:.2f} cores)  speed-up {row['speedup']:5.2f}x", flush=True)

    result = dict(
        model="GPT-B (dim 768, 12 layers, 12 heads), vocab 8192, N 128, random init, head re-drawn N(0, 0.02)",
        params=sum(p.numel() for p in models["har"].parameters()),
        sampling="temperature 1, top_k 0, top_p 1, constant CFG; seconds per batch, best of up to "
                 f"{args.repeats} runs (one when an undisturbed run exceeds 30 s), each started after waiting up to "
                 f"{args.quiet_wait:g} s for an idle CPU; *_others_cores = cores other processes used during the "
                 "reported run (0 = no competition)",
        torch=torch.__version__, threads=torch.get_num_threads(), cpu=cpu_name(), cpu_count=os.cpu_count(),
        machine=f"{platform.system()} {platform.release()} {platform.machine()}", python=platform.python_version(),
        loadavg_before=load_before, loadavg_after=load(), rows=rows)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"\n| batch | CFG | HAR s | HAR passes | AR s | AR passes | AR/HAR | others' cores HAR/AR |\n" + "|---" * 8 + "|")
    for r in rows:
        print(f"| {r['batch']} | {r['cfg_scale']:g} | {r['har_s']:.3f} | {r['har_passes']} | {r['ar_s']:.3f} | "
              f"{r['ar_passes']} | {r['speedup']:.2f}x | {r['har_others_cores']:.2f}/{r['ar_others_cores']:.2f} |")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
