"""Sampling (HAR and vanilla AR) and tokenizer encode/decode, this checkout against an earlier commit, side by side.

    python benchmarks/sampling_speed.py --baseline /tmp/restok_nb_6d56ed8      # the full set (issue 15)
    python benchmarks/sampling_speed.py --baseline 6d56ed8 --quick --threads 1  # a reduced set, for development

`--baseline` is a folder holding the earlier checkout, or a git ref (checked out once with
`git worktree add` beside the repository). The driver draws one set of random weights (seeded):
GPT-B HAR and vanilla AR (`llamagen_b_har`, `llamagen_b_ar`: dim 768, 12 layers, N 128, vocab
8192; the zero-initialised output head re-drawn N(0, 0.02) so that sampling is not degenerate)
and the ViT-B tokenizer at 256 px (`restok_b_128`). It saves them, then starts two worker
processes, one importing the baseline's `restok_nb` and one this checkout's, each loading the
same weights, and asks them in turn, A B A B, to time the same request (same seed), so only one
computes at a time. Before each timed request it waits (up to `--quiet-wait` s) for an idle CPU.

Rows: sampling at batch 1 and 16, CFG 1 and 2, HAR and AR; encode and decode at batch 1 and 4;
each in float32 and in bfloat16 (`model.to(torch.bfloat16)` on both sides, inputs cast the same
way). Per row: the best and median seconds of each side over `--repeats` runs after one warm-up
each, old/new speed ratio, forward passes (a hook on the final norm), the cores other processes
used meanwhile, and whether both sides give the same result: identical tokens for sampling
(same seed), identical code ids and the largest latent difference for encode, PSNR between the
two sides' images for decode. `agreement` holds this checkout's bfloat16-vs-float32 figures
(teacher-forced logits error, greedy tokens per level, decoded-image PSNR, code agreement) on the
same random weights, and on the trained tiny models shipped with the package (`digits`, `photos`). Writes `--out` (default `benchmarks/sampling_speed.json`).
"""
import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from har_vs_ar import cpu_name, load, wait_until_quiet  # noqa: E402  (the shared machine description and waits)

WORKER = r"""
import json, sys, time, torch
threads, wdir, side, bench_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
torch.set_num_threads(threads)
sys.path.insert(0, bench_dir)
from har_vs_ar import others_cores
from restok_nb.generator import from_preset as gen_preset
from restok_nb.tokenizer import from_preset as tok_preset

cache = {}
def model(kind, dtype):
    "One model at a time (memory): `kind` har / ar / tok, with the driver's weights, cast to `dtype`."
    key = (kind, dtype)
    if key not in cache:
        cache.clear()
        m = gen_preset(f"llamagen_b_{kind}") if kind in ("har", "ar") else tok_preset("restok_b_128")
        m.load_state_dict(torch.load(f"{wdir}/{kind}.pt"))
        cache[key] = m.eval().to(getattr(torch, dtype))
    return cache[key]

def request(r):
    "Run one request; return its wall seconds, the cores others used, forward passes, and the result."
    dt = getattr(torch, r["dtype"])
    g = torch.Generator().manual_seed(r["seed"])
    if r["op"] == "sample":
        m = model(r["kind"], r["dtype"])
        cond = torch.arange(r["batch"]) % m.cfg.num_classes
        calls = []
        hook = m.norm.register_forward_hook(lambda *_: calls.append(1))
        out = []
        wall, others = others_cores(lambda: out.append(m.generate(cond, cfg_scale=r["cfg"], generator=g)))
        hook.remove()
        return wall, others, len(calls), out[0]
    tok = model("tok", r["dtype"])
    size, out = tok.config.image_size, []
    if r["op"] == "encode":
        x = torch.rand(r["batch"], 3, size, size, generator=g).to(dt)
        def run():
            with torch.inference_mode():
                z_q, info = tok.encode(x)
            out.append(dict(indices=info["indices"], latent=info["latent"].float()))
    else:
        ids = torch.randint(0, tok.config.codebook_size, (r["batch"], tok.config.num_latent_tokens), generator=g)
        def run():
            with torch.inference_mode():
                out.append(tok.decode_tokens(ids).float())
    wall, others = others_cores(run)
    return wall, others, 1, out[0]

for line in sys.stdin:
    r = json.loads(line)
    try:
        wall, others, passes, result = request(r)
        if r.get("save"): torch.save(result, f"{wdir}/{side}_{r['row']}.pt")
        reply = dict(seconds=wall, others_cores=others, passes=passes)
    except Exception as e:          # e.g. a dtype the older code cannot run: reported, not fatal
        reply = dict(error=f"{type(e).__name__}: {e}"[:300])
    print("REPLY " + json.dumps(reply), flush=True)
"""

AGREEMENT = r"""
import json, sys, torch
torch.set_num_threads(int(sys.argv[1]))
wdir = sys.argv[2]
from restok_nb.generator import from_preset as gen_preset
from restok_nb.tokenizer import from_preset as tok_preset
from restok_nb.levels import level_slices

def rel_err(a, b): return float((a.float() - b.float()).abs().max() / b.float().abs().max())
def psnr(a, b): return float(10 * torch.log10(1 / ((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).mean()))

res = {}
with torch.inference_mode():
    m = gen_preset("llamagen_b_har"); m.load_state_dict(torch.load(f"{wdir}/har.pt")); m.eval()
    cond = torch.arange(4) * 250
    seeded = lambda: torch.Generator().manual_seed(0)                       # bfloat16 ties: drawn, seeded
    seq = m.generate(cond, top_k=1, generator=seeded())                          # float32 greedy sample
    logits = m(seq, cond)
    mb = m.to(torch.bfloat16)
    res["har_teacher_forced_logits_rel_err"] = rel_err(mb(seq, cond), logits)
    seq_b = mb.generate(cond, top_k=1, generator=seeded())
    res["har_greedy_agreement_per_level"] = [float((seq_b[:, s] == seq[:, s]).float().mean()) for s in level_slices(128)]
    del m, mb
    tok = tok_preset("restok_b_128"); tok.load_state_dict(torch.load(f"{wdir}/tok.pt")); tok.eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 256, 256, generator=g)
    ids = torch.randint(0, 8192, (2, 128), generator=g)
    z32, info32 = tok.encode(x); img32 = tok.decode_tokens(ids)
    tb = tok.to(torch.bfloat16)
    zb, infob = tb.encode(x.bfloat16()); imgb = tb.decode_tokens(ids).float()
    res["encode_index_agreement"] = float((infob["indices"] == info32["indices"]).float().mean())
    res["encode_latent_rel_err"] = rel_err(infob["latent"], info32["latent"])
    res["decode_psnr_bf16_vs_fp32_db"] = psnr(imgb, img32)
    from restok_nb.pretrained import available, load                       # trained models: the shipped tiny ones
    for name in [n for n in ("digits", "photos") if n in available()]:
        tok, har, _ = load(name)
        cond = torch.arange(16) % har.cfg.num_classes
        seq = har.generate(cond, cfg_scale=2.0, top_k=1, generator=seeded())      # float32, greedy, guided
        logits = har(seq, cond)
        img32 = tok.decode_tokens(seq)
        codes32 = tok.encode(img32.clamp(0, 1))[1]["indices"]
        har, tok = har.to(torch.bfloat16), tok.to(torch.bfloat16)
        seq_b = har.generate(cond, cfg_scale=2.0, top_k=1, generator=seeded())
        N = har.cfg.num_latent_tokens
        res[name] = dict(teacher_forced_logits_rel_err=rel_err(har(seq, cond), logits),
                         greedy_agreement_per_level=[float((seq_b[:, s] == seq[:, s]).float().mean()) for s in level_slices(N)],
                         decode_psnr_bf16_vs_fp32_db=psnr(tok.decode_tokens(seq).float(), img32),
                         encode_index_agreement=float((tok.encode(img32.clamp(0, 1))[1]["indices"] == codes32).float().mean()))
print("REPLY " + json.dumps(res), flush=True)
"""


def worktree(ref: str) -> Path:
    "The baseline's code: `ref` itself when it is a folder, else a checkout of the git ref beside the repository."
    if Path(ref, "restok_nb").is_dir(): return Path(ref).resolve()
    path = Path(tempfile.gettempdir()) / f"restok_nb_{ref}"
    if not (path / "restok_nb").is_dir():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--force", str(path), ref], check=True,
                       capture_output=True)
    return path


def save_weights(wdir: Path):
    "One seeded set of random weights for both sides: GPT-B HAR and AR (head re-drawn), the ViT-B tokenizer."
    import torch
    from torch import nn
    from restok_nb.generator import from_preset as gen_preset
    from restok_nb.tokenizer import from_preset as tok_preset
    for i, kind in enumerate(("har", "ar")):
        torch.manual_seed(i)
        m = gen_preset(f"llamagen_b_{kind}")
        nn.init.normal_(m.output.weight, std=0.02)      # a zero head would make every logit equal
        torch.save(m.state_dict(), wdir / f"{kind}.pt")
    torch.manual_seed(2)
    torch.save(tok_preset("restok_b_128").state_dict(), wdir / "tok.pt")


class Worker:
    "A process that imports `restok_nb` from `code` and answers timing requests, one JSON line each."
    def __init__(self, code: Path, side: str, wdir: Path, threads: int):
        env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER, str(threads), str(wdir), side,
                                      str(Path(__file__).resolve().parent)],
                                     cwd=code, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, **req) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n"); self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith("REPLY "): return json.loads(line[len("REPLY "):])
        raise RuntimeError(f"worker exited with code {self.proc.wait()}")

    def close(self):
        self.proc.stdin.close(); self.proc.wait()


def plan(quick: bool) -> list[dict]:
    "The rows, grouped by model so that each worker loads every model once."
    rows = []
    for dtype in ("float32", "bfloat16"):
        for kind in ("har", "ar"):
            for batch in ((1, 16) if not quick else ((1,) if dtype == "float32" else (16,))):
                for cfg in ((1.0, 2.0) if not quick or kind == "har" else (1.0,)):
                    if quick and (kind == "ar" and dtype == "bfloat16"): continue
                    rows.append(dict(op="sample", kind=kind, dtype=dtype, batch=batch, cfg=cfg))
        for op in ("encode", "decode"):
            for batch in ((1, 4) if not quick else (1,)):
                rows.append(dict(op=op, kind="tok", dtype=dtype, batch=batch, cfg=None))
    return rows


def compare(row: dict, wdir: Path, rid: int) -> dict:
    "Whether the two sides gave the same result for `row` (saved by the workers at their first timed run)."
    import torch
    try:
        old, new = (torch.load(wdir / f"{side}_{rid}.pt") for side in ("old", "new"))
    except FileNotFoundError:
        return {}
    if row["op"] == "sample":
        return dict(identical=bool(torch.equal(old, new)), token_agreement=round(float((old == new).float().mean()), 4))
    if row["op"] == "encode":
        return dict(identical_indices=bool(torch.equal(old["indices"], new["indices"])),
                    latent_max_abs_diff=float((old["latent"] - new["latent"]).abs().max()))
    mse = float(((old.clamp(0, 1) - new.clamp(0, 1)) ** 2).mean())
    return dict(max_abs_diff=float((old - new).abs().max()), psnr_db=round(10 * math.log10(1 / mse), 2) if mse else math.inf)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", default="6d56ed8", help="the earlier checkout: a folder, or a git ref to check out")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per side and row, after one warm-up each")
    ap.add_argument("--quick", action="store_true", help="a reduced set of rows (development)")
    ap.add_argument("--quiet-wait", type=float, default=60.0,
                    help="before each timed run, wait up to this many seconds for other processes to leave the CPU idle")
    ap.add_argument("--no-agreement", action="store_true", help="skip the bfloat16-vs-float32 agreement figures")
    ap.add_argument("--only", nargs="+", default=[], metavar="WORD",
                    help="keep the rows whose op, model or dtype is one of these words (e.g. encode decode, har)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "sampling_speed.json"))
    a = ap.parse_args()
    import torch
    torch.set_num_threads(a.threads)

    base = worktree(a.baseline)
    wdir = Path(tempfile.mkdtemp(prefix="restok_speed_"))
    load_before, rows = load(), []
    try:
        save_weights(wdir)
        workers = {"old": Worker(base, "old", wdir, a.threads), "new": Worker(ROOT, "new", wdir, a.threads)}
        todo = [r for r in plan(a.quick) if not a.only or {r["op"], r["kind"], r["dtype"]} & set(a.only)]
        for rid, row in enumerate(todo):
            req = dict(row, row=rid, seed=rid)
            runs = {side: [] for side in workers}
            errors, passes, others = {}, {}, {}
            for side, w in workers.items():                        # warm-up: allocator, kernels, caches
                rep = w.ask(**req)
                if "error" in rep: errors[side] = rep["error"]
            for r in range(a.repeats):
                for side, w in workers.items():                    # A B A B
                    if side in errors: continue
                    wait_until_quiet(a.quiet_wait)
                    rep = w.ask(**req, save=r == 0)
                    if "error" in rep: errors[side] = rep["error"]; continue
                    runs[side].append(rep["seconds"]); passes[side] = rep["passes"]
                    others[side] = max(others.get(side, 0.0), rep["others_cores"])
            out = dict(row, runs={s: [round(t, 4) for t in v] for s, v in runs.items()}, passes=passes,
                       others_cores={s: round(v, 2) for s, v in others.items()})
            for side in workers:
                out[f"{side}_s"] = round(min(runs[side]), 4) if runs[side] else None
                out[f"{side}_median_s"] = round(statistics.median(runs[side]), 4) if runs[side] else None
            out["ratio"] = round(out["old_s"] / out["new_s"], 3) if out["old_s"] and out["new_s"] else None
            if errors: out["errors"] = errors
            out.update(compare(row, wdir, rid))
            rows.append(out)
            what = f"{row['op']:6s} {row['kind']:3s} {row['dtype']:8s} batch {row['batch']:2d}" + \
                   (f" cfg {row['cfg']:g}" if row["cfg"] else "      ")
            fmt = lambda v: f"{v:7.3f} s" if v is not None else "   error"
            print(f"{what}: old {fmt(out['old_s'])}  new {fmt(out['new_s'])}  ratio {out['ratio']}  passes {passes}  "
                  f"{ {k: v for k, v in out.items() if k in ('identical', 'identical_indices', 'psnr_db')} }"
                  f"{'  errors ' + str(errors) if errors else ''}", flush=True)
        for w in workers.values(): w.close()
        for r in rows:                     # where the older code cannot run bfloat16: compare with its float32
            if r["dtype"] == "bfloat16" and r["old_s"] is None and r["new_s"]:
                f32 = [q for q in rows if q["dtype"] == "float32" and all(q[k] == r[k] for k in ("op", "kind", "batch", "cfg"))]
                if f32 and f32[0]["old_s"]:
                    r["ratio_vs_old_float32"] = round(f32[0]["old_s"] / r["new_s"], 3)
        agreement = {}
        if not a.no_agreement:
            env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(a.threads)}
            proc = subprocess.run([sys.executable, "-c", AGREEMENT, str(a.threads), str(wdir)], env=env, cwd=ROOT,
                                  capture_output=True, text=True)
            lines = [l for l in proc.stdout.splitlines() if l.startswith("REPLY ")]
            agreement = json.loads(lines[-1][len("REPLY "):]) if lines else dict(error=proc.stderr[-2000:])
            print("bfloat16 vs float32 (this checkout):", agreement)
    finally:
        shutil.rmtree(wdir, ignore_errors=True)

    record = dict(
        baseline=str(base), baseline_commit=subprocess.run(["git", "-C", str(base), "rev-parse", "--short", "HEAD"],
                                                           capture_output=True, text=True).stdout.strip(),
        this=subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                            text=True).stdout.strip(),
        machine=dict(cpu=cpu_name(), cores=os.cpu_count(), threads=a.threads, torch=torch.__version__,
                     python=platform.python_version(), system=f"{platform.system()} {platform.release()}"),
        loadavg_before=load_before, loadavg_after=load(), time=time.strftime("%Y-%m-%d %H:%M"),
        models="GPT-B HAR/AR (llamagen_b_*: dim 768, 12 layers, N 128, vocab 8192), head re-drawn N(0, 0.02); "
               "ViT-B tokenizer (restok_b_128) at 256 px; random weights, seeded, the same on both sides",
        timing=f"seconds per call, best (old_s/new_s) and median of {a.repeats} runs per side after one warm-up, "
               "sides alternating A B A B, each run started after waiting up to "
               f"{a.quiet_wait:g} s for an idle CPU; ratio = old_s / new_s; others_cores = the most cores other "
               "processes used during a run (0 = no competition); sampling: temperature 1, no top-k/top-p, constant CFG",
        rows=rows, agreement=agreement)
    Path(a.out).write_text(json.dumps(record, indent=1) + "\n")
    print(f"\n| op | model | dtype | batch | CFG | old s | new s | ratio | passes old/new | same result |\n" + "|---" * 10 + "|")
    for r in rows:
        same = r.get("identical", r.get("identical_indices", r.get("psnr_db", "")))
        ratio = r["ratio"] if r["ratio"] is not None else \
            f"old fails; {r['ratio_vs_old_float32']} vs old float32" if "ratio_vs_old_float32" in r else None
        print(f"| {r['op']} | {r['kind']} | {r['dtype']} | {r['batch']} | {r['cfg'] or ''} | {r['old_s']} | {r['new_s']} | "
              f"{ratio} | {r['passes'].get('old')}/{r['passes'].get('new')} | {same} |")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
