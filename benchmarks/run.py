"""Speed of the tokenizer and the generators at the tiny preset and at GPT-B / ViT-B size.

Run: `python benchmarks/run.py [--sizes tiny base] [--device auto|cpu|cuda] [--out benchmarks/results.json]`.

Measures, for each size:
* tokenizer encode and decode throughput (images/s, eval mode, no grad);
* tokenizer training step time (forward with nested dropout, L2 + VQ losses, backward, AdamW step);
* generator training step time (teacher-forced HAR and AR forward, cross-entropy, backward, AdamW);
* HAR vs vanilla-AR sampling time per sample (CFG 2, temperature 1), with the forward passes counted.

`tiny` is the CPU preset that `nbs/train.ipynb` trains (ResTok `tiny` at 32 px, N = 32; `tiny_har` /
`tiny_ar`). `base` is the paper's B size: ResTok-B (ViT-B/12 encoder and decoder, width 768, N = 128,
codebook 8192) at 256 px and LlamaGen GPT-B (dim 768, 12 layers). Models are randomly initialised
(speed does not depend on the weights; the generators' zero output heads are re-drawn so that
sampling is not degenerate). On CUDA, steps run under bf16 autocast with fused attention
(PyTorch SDPA) and peak memory is recorded. Each figure is the median of `--repeats` timed runs
after a warm-up, started once other processes leave the CPU idle (waiting up to `--quiet-wait` s);
`others_cores` records how many cores other processes used meanwhile (0 = no competition).
Writes the figures and a description of the machine to `--out`.
"""
import argparse
import json
import platform
import statistics
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from har_vs_ar import cpu_name, others_cores, wait_until_quiet  # noqa: E402  (the shared timing helpers)

from restok_nb.generator import from_preset as gen_preset, generator_loss  # noqa: E402
from restok_nb.tokenizer import from_preset as tok_preset  # noqa: E402

SIZES = {  # tokenizer preset, generator presets, batch sizes (tokenizer, generator training, sampling)
    "tiny": dict(tokenizer="tiny", har="tiny_har", ar="tiny_ar", tok_batch=32, gen_batch=64, sample_batch=16),
    "base": dict(tokenizer="restok_b_128", har="llamagen_b_har", ar="llamagen_b_ar", tok_batch=4, gen_batch=16, sample_batch=4),
}


def sync(dev):
    if dev.type == "cuda": torch.cuda.synchronize()


def timed(fn, dev, repeats: int, quiet_wait: float) -> tuple[float, float]:
    "Median seconds of `fn()` over `repeats` runs after one warm-up, and the most cores others used in a run."
    fn(); sync(dev)
    secs, others = [], []
    for _ in range(repeats):
        if dev.type == "cpu": wait_until_quiet(quiet_wait)
        wall, oth = others_cores(lambda: (fn(), sync(dev)))
        secs.append(wall); others.append(oth)
    return statistics.median(secs), max(others)


def bench_size(name: str, dev, repeats: int, quiet_wait: float, log) -> dict:
    s = SIZES[name]
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else nullcontext()
    torch.manual_seed(0)
    tok = tok_preset(s["tokenizer"]).to(dev)
    cfg = tok.config
    out = dict(tokenizer=s["tokenizer"], image_size=cfg.image_size, num_tokens=cfg.num_latent_tokens,
               tokenizer_params=sum(p.numel() for p in tok.parameters()))
    x = torch.rand(s["tok_batch"], 3, cfg.image_size, cfg.image_size, device=dev)

    tok.eval()
    with torch.no_grad(), amp:
        z, _ = tok.encode(x)
        sec, oth = timed(lambda: tok.encode(x), dev, repeats, quiet_wait)
        out["encode_images_per_s"], out["encode_others_cores"] = len(x) / sec, oth
        sec, oth = timed(lambda: tok.decode(z), dev, repeats, quiet_wait)
        out["decode_images_per_s"], out["decode_others_cores"] = len(x) / sec, oth
    log(f"{name}: encode {out['encode_images_per_s']:.1f} img/s, decode {out['decode_images_per_s']:.1f} img/s (batch {len(x)})")

    tok.train()
    opt = torch.optim.AdamW(tok.parameters(), lr=1e-4)
    def tok_step():
        with amp:
            rec, info = tok(x)
            loss = F.mse_loss(rec.float(), x) + info["quantizer_loss"]
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    if dev.type == "cuda": torch.cuda.reset_peak_memory_stats()
    sec, oth = timed(tok_step, dev, repeats, quiet_wait)
    out.update(tokenizer_step_s=sec, tokenizer_step_batch=len(x), tokenizer_train_images_per_s=len(x) / sec,
               tokenizer_step_others_cores=oth)
    if dev.type == "cuda": out["tokenizer_step_peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    log(f"{name}: tokenizer step {sec:.3f} s (batch {len(x)})")
    del opt, tok, z
    if dev.type == "cuda": torch.cuda.empty_cache()

    for mode in ("har", "ar"):
        torch.manual_seed(0)
        g = gen_preset(s[mode]).to(dev)
        nn.init.normal_(g.output.weight, std=0.02)
        gc = g.cfg
        out[f"{mode}_params"] = sum(p.numel() for p in g.parameters())
        ids = torch.randint(0, gc.vocab_size, (s["gen_batch"], gc.num_latent_tokens), device=dev)
        cond = torch.arange(s["gen_batch"], device=dev) % gc.num_classes
        opt = torch.optim.AdamW(g.parameters(), lr=1e-4)
        g.train()
        def gen_step():
            with amp:
                loss = generator_loss(g(ids, cond), ids)
            loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
        if dev.type == "cuda": torch.cuda.reset_peak_memory_stats()
        sec, oth = timed(gen_step, dev, repeats, quiet_wait)
        out[f"{mode}_train_step_s"], out[f"{mode}_train_step_others_cores"] = sec, oth
        out[f"{mode}_train_step_batch"] = len(ids)
        if dev.type == "cuda": out[f"{mode}_train_step_peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
        del opt
        g.eval()
        sc = torch.arange(s["sample_batch"], device=dev) % gc.num_classes
        calls = []
        hook = g.norm.register_forward_hook(lambda *_: calls.append(1))
        def sample():
            calls.clear()
            with torch.no_grad(), amp:
                g.generate(sc, cfg_scale=2.0, generator=torch.Generator(device=dev).manual_seed(0))
        sec, oth = timed(sample, dev, repeats, quiet_wait)
        hook.remove()
        out[f"{mode}_sample_s_per_sample"], out[f"{mode}_forward_passes"] = sec / len(sc), len(calls)
        out[f"{mode}_sample_batch"], out[f"{mode}_sample_others_cores"] = len(sc), oth
        log(f"{name}: {mode.upper()} train step {out[f'{mode}_train_step_s']:.3f} s (batch {len(ids)}), "
            f"sampling {1000 * sec / len(sc):.1f} ms/sample ({len(calls)} passes, batch {len(sc)}, CFG 2)")
        del g
    out["har_sampling_speedup"] = out["ar_sample_s_per_sample"] / out["har_sample_s_per_sample"]
    return out


def machine(dev) -> dict:
    m = dict(cpu=cpu_name(), cpu_count=os.cpu_count(), torch=torch.__version__, threads=torch.get_num_threads(),
             python=platform.python_version(), system=f"{platform.system()} {platform.release()} {platform.machine()}",
             device=str(dev))
    if dev.type == "cuda":
        m.update(gpu=torch.cuda.get_device_name(dev), gpu_memory_gib=torch.cuda.get_device_properties(dev).total_memory / 2 ** 30,
                 cuda=torch.version.cuda, autocast="bf16")
    return m


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quiet-wait", type=float, default=60.0)
    ap.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    a = ap.parse_args(argv)
    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda but no CUDA GPU is visible; use --device cpu or auto")
    if a.repeats < 1: sys.exit(f"error: --repeats must be >= 1, got {a.repeats}")
    dev = torch.device("cuda" if a.device == "cuda" or (a.device == "auto" and torch.cuda.is_available()) else "cpu")
    t0 = time.time()
    result = dict(machine=machine(dev), load_before=list(os.getloadavg()), repeats=a.repeats,
                  sizes={n: bench_size(n, dev, a.repeats, a.quiet_wait, lambda m: print(m, flush=True)) for n in a.sizes})
    result["wall_seconds"] = time.time() - t0
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {a.out} ({result['wall_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
