"""Does the HF eager baseline that the speed task runs before a BF16 recipe's engine (tasks/speed.py) move the
engine's decode figure? The 2b BF16 workload of bench_speed.py timed as time_engine times it (2 warm-ups, median of
3), four times in one process: engine, engine, HF eager baseline then engine, engine. The twenty-fifth and
twenty-sixth sessions' bench_speed.py BF16 steps read ~0.7 % above bench_decode_ab.py's on the same code."""

import json
import statistics
import sys

import torch

from vlmq.bench import speed as bench
from vlmq.device import release_memory
from vlmq.engine import Engine
from vlmq.models import load_model

batch = int(sys.argv[1]) if len(sys.argv) > 1 else 1
model = sys.argv[2] if len(sys.argv) > 2 else "qwen2-vl-2b"
device = "cuda" if torch.cuda.is_available() else "cpu"
loaded = load_model(model, device=device)
opts = bench.SpeedOptions(batch_sizes=(batch,), new_tokens=64, warmups=2, repeats=3)
prompts = bench.workload_prompts(opts, batch, opts.image_sizes[0])
_, max_len = bench.workload_lengths(loaded, opts, prompts)
out = []


def timed(label):
    engine = Engine(loaded, compile=device == "cuda", max_batch_size=batch, max_seq_len=max_len)
    rows = bench.time_engine(engine, prompts, opts)
    d = rows["decode_ms_per_token"]
    out.append({"run": label, "decode_ms_per_token": d["value"], "min": d["ci_low"], "max": d["ci_high"]})
    print(json.dumps(out[-1]), flush=True)
    del engine
    release_memory()


timed("engine 1")
timed("engine 2")
with torch.no_grad():
    base = bench.measure_hf_eager_baseline(loaded, prompts, opts.new_tokens, warmups=1, repeats=3)
print(json.dumps({"hf_eager": base}), flush=True)
timed("after the HF baseline 1")
timed("after the HF baseline 2")
print(
    "medians",
    [round(r["decode_ms_per_token"], 4) for r in out],
    statistics.median(r["decode_ms_per_token"] for r in out),
)
