"""Tokenizer training and the whole main job, this commit against an earlier one, side by side on this machine.

Each side runs its own code and its own default recipe (`config_from_params` of that commit) through
its real pipeline (`run_pipeline`, by default `stage="all"`: README's main job without papermill) in a
fresh process, one at a time, alternating A B A B. Reported per side and dataset:

* throughput: tokenizer-training images per second, from the `time` stamps of `metrics.jsonl`
  between the first and the last log line (model set-up, the held-out evaluation and the final
  save are not in it; checkpoints every `ckpt_every` steps are);
* quality at that side's default budget: held-out PSNR (all held-out images), PSNR with the first
  token, code usage per level, and (stage all) the class accuracy and FID of generated samples;
* wall time: the tokenizer stage (pipeline start to its last training log line) and the whole pipeline.

The earlier commit is checked out with `git worktree add` (default 6d56ed8, the head when issue
11 was filed). Time only on an idle machine: nothing else may run meanwhile.

    python benchmarks/tokenizer_training.py                      # digits, 2 rounds, both full default recipes
    python benchmarks/tokenizer_training.py --datasets digits photos --rounds 1
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from har_vs_ar import cpu_name  # noqa: E402  (the shared machine description)

SNIPPET = r"""
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
try:
    from restok_nb.config import config_from_params          # this layout
except ImportError:
    from restok_nb.train import config_from_params           # the layout before issue 13
from restok_nb.train import run_pipeline
params = json.loads(sys.argv[2])
c = config_from_params(params, log=lambda m: None)
t0 = time.time()
summary = run_pipeline(c, log=lambda m: None)
rows = [json.loads(l) for l in open(c.out_dir + "/metrics.jsonl")]
logs = [r for r in rows if r.get("stage") == "tokenizer" and "lr" in r]
first, last = logs[0], logs[-1]
images = (last["step"] - first["step"]) * c.batch_size * c.grad_accum
tok, gen = summary["tokenizer"], summary.get("generator", {})
print("RESULT " + json.dumps(dict(
    images_per_second=images / (last["time"] - first["time"]), steps=c.steps, batch_size=c.batch_size,
    seconds_per_step=(last["time"] - first["time"]) / (last["step"] - first["step"]),
    psnr=tok["psnr"], psnr_by_prefix=tok["psnr_by_prefix"], codes_used=tok["codes_used"],
    heldout_images=tok["heldout_images"], stage_seconds=last["time"] - t0, pipeline_seconds=time.time() - t0,
    class_accuracy=gen.get("class_accuracy"), gfid=gen.get("fid"))))
"""


def worktree(ref: str) -> Path:
    "A checkout of `ref` beside the repository (made once, reused)."
    path = Path(tempfile.gettempdir()) / f"restok_nb_{ref}"
    if not (path / "restok_nb").is_dir():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--force", str(path), ref], check=True,
                       capture_output=True)
    return path


def run_side(code_dir: Path, dataset: str, threads: int, stage: str) -> dict:
    "One fresh process running the pipeline of `code_dir` with its default recipe on `dataset`."
    out = Path(tempfile.mkdtemp(prefix="restok_bench_"))
    params = dict(dataset=dataset, stage=stage, resume=False, out_dir=str(out / "run"))
    if stage == "tokenizer": params["eval_every"] = 0                # throughput alone: no held-out checks
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(code_dir)}
    proc = subprocess.run([sys.executable, "-c", SNIPPET, str(threads), json.dumps(params)], cwd=code_dir, env=env,
                          capture_output=True, text=True)
    shutil.rmtree(out, ignore_errors=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{code_dir} on {dataset} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", default="6d56ed8", help="the earlier commit (git ref)")
    ap.add_argument("--datasets", nargs="+", default=["digits"])
    ap.add_argument("--rounds", type=int, default=2, help="A B rounds per dataset")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stage", default="all", choices=["tokenizer", "all"], help="tokenizer only, or the whole main job")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "tokenizer_training.json"))
    a = ap.parse_args()
    sides = {"baseline": worktree(a.baseline), "this": ROOT}
    results = {d: {s: [] for s in sides} for d in a.datasets}
    for dataset in a.datasets:
        for r in range(a.rounds):
            for side, code in sides.items():                      # A B A B ...
                res = run_side(code, dataset, a.threads, a.stage)
                results[dataset][side].append(res)
                print(f"{dataset} round {r + 1} {side:8s}: {res['images_per_second']:.1f} img/s, "
                      f"PSNR {res['psnr']:.2f} dB ({res['steps']} steps, tokenizer {res['stage_seconds']:.0f} s, "
                      f"pipeline {res['pipeline_seconds']:.0f} s, class accuracy {res['class_accuracy']})", flush=True)
    summary = {}
    for dataset, per in results.items():
        med = {s: sorted(x["images_per_second"] for x in rs)[len(rs) // 2] for s, rs in per.items()}
        summary[dataset] = dict(images_per_second=med, throughput_ratio=med["this"] / med["baseline"],
                                psnr={s: rs[-1]["psnr"] for s, rs in per.items()},
                                stage_seconds={s: rs[-1]["stage_seconds"] for s, rs in per.items()},
                                pipeline_seconds={s: rs[-1]["pipeline_seconds"] for s, rs in per.items()},
                                pipeline_ratio=per["this"][-1]["pipeline_seconds"] / per["baseline"][-1]["pipeline_seconds"],
                                runs=per)
    import torch
    record = dict(baseline=a.baseline, this=subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                                                           capture_output=True, text=True).stdout.strip(),
                  machine=dict(cpu=cpu_name(), cores=os.cpu_count(), threads=a.threads,
                               torch=torch.__version__, python=platform.python_version()),
                  stage=a.stage, time=time.strftime("%Y-%m-%d %H:%M"), results=summary)
    Path(a.out).write_text(json.dumps(record, indent=1) + "\n")
    for d, s in summary.items():
        print(f"{d}: {s['throughput_ratio']:.2f}× images/s; PSNR {s['psnr']['baseline']:.2f} -> {s['psnr']['this']:.2f} dB; "
              f"tokenizer {s['stage_seconds']['baseline']:.0f} s -> {s['stage_seconds']['this']:.0f} s; "
              f"pipeline {s['pipeline_seconds']['baseline']:.0f} s -> {s['pipeline_seconds']['this']:.0f} s")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
