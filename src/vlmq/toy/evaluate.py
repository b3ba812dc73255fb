"""Held-out accuracy of a toy model folder on freshly generated shapes data (greedy, HF ``generate``).

Used at the end of training, for the model card and by the toy tests. Prompts are the ones lmms-eval
sends Qwen2-VL (single-word suffix; MME's own "Please answer yes or no." removed). Scores use
``vlmq.metrics`` (the official scorers) where that module is importable, and always a plain
"canonical answer" accuracy (case-insensitive exact match), which needs nothing else.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from vlmq.data.shapes import make_rows
from vlmq.errors import VlmqError
from vlmq.toy.prompts import task_prompt

HELD_OUT_SEED = 1234  # never used for training streams (those are seeded with strings "<seed>:<worker>")
MAX_NEW_TOKENS = 8


@torch.no_grad()
def answer(model, processor, images: list, texts: list[str], batch_size: int = 32) -> list[str]:
    """Greedy answers, one per (image, user text)."""
    tokenizer = processor.tokenizer
    outputs = []
    for start in range(0, len(texts), batch_size):
        chunk_images, chunk_texts = images[start : start + batch_size], texts[start : start + batch_size]
        prompts = [
            processor.apply_chat_template(
                [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": t}]}],
                add_generation_prompt=True,
                tokenize=False,
            )
            for t in chunk_texts
        ]
        side, tokenizer.padding_side = tokenizer.padding_side, "left"
        try:
            enc = processor(text=prompts, images=chunk_images, padding=True, return_tensors="pt")
        finally:
            tokenizer.padding_side = side
        enc = {k: v.to(model.device) for k, v in enc.items()}
        generated = model.generate(**enc, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)
        new_tokens = generated[:, enc["input_ids"].shape[1] :]
        outputs += [t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
    return outputs


def evaluate_toy(
    model, processor, *, n: int = 200, seed: int = HELD_OUT_SEED, kinds=("vqa", "pope", "mme"), batch_size: int = 32
) -> dict:
    """Accuracy per kind on ``n`` held-out questions (pope: per split; mme: images per subtask)."""
    results = {}
    for kind in kinds:
        rows = make_rows(kind, n, seed)
        outputs = answer(
            model, processor, [r["image"] for r in rows], [task_prompt(r["question"]) for r in rows], batch_size
        )
        results[kind] = _score(kind, rows, outputs)
    return results


def overall_accuracy(results: dict) -> float:
    """Canonical-answer accuracy over every question of ``evaluate_toy``'s results, in percent."""
    hits = sum(r["canonical_accuracy"] * r["n"] for r in results.values())
    return hits / sum(r["n"] for r in results.values())


def _score(kind: str, rows: list[dict], outputs: list[str]) -> dict:
    target = "multiple_choice_answer" if kind == "vqa" else "answer"
    hits = [o.lower() == r[target].lower() for r, o in zip(rows, outputs)]
    scores = {"canonical_accuracy": round(100 * sum(hits) / len(hits), 2), "n": len(rows)}
    scores.update(_official(kind, rows, outputs))
    return scores


def _official(kind: str, rows: list[dict], outputs: list[str]) -> dict:
    """The official metrics (VQA soft accuracy, POPE F1 per split, MME perception), if vlmq.metrics exists."""
    try:
        if kind == "vqa":
            from vlmq.metrics.vqa import vqa_accuracy

            accs = [vqa_accuracy(o, r["answers"], mode="official") for r, o in zip(rows, outputs)]
            return {"vqa_accuracy": round(100 * sum(accs) / len(accs), 2)}
        if kind == "pope":
            from vlmq.metrics.pope import pope_metrics

            return {
                f"f1/{split}": _pope_f1(pope_metrics, *_split(rows, outputs, split))
                for split in ("random", "popular", "adversarial")
            }
        from vlmq.metrics.mme import mme_scores

        records = [
            {"question_id": r["question_id"], "category": r["category"], "answer": r["answer"], "prediction": o}
            for r, o in zip(rows, outputs)
        ]
        return {"mme": mme_scores(records, mode="official")}
    except ImportError:
        return {}


def _pope_f1(pope_metrics, predictions, labels) -> float | None:
    try:
        return round(pope_metrics(predictions, labels, mode="official")["f1"], 4)
    except VlmqError:  # the official script divides by zero when nothing is answered "yes"
        return None


def _split(rows, outputs, split):
    pairs = [(o, r["answer"]) for r, o in zip(rows, outputs) if r["category"] == split]
    return [p for p, _ in pairs], [label for _, label in pairs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vlmq.toy.evaluate")
    parser.add_argument("model_dir")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=HELD_OUT_SEED)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    from vlmq.models import load_model

    loaded = load_model(args.model_dir, device=args.device)
    model, processor = loaded.model, loaded.processor
    scores = evaluate_toy(model, processor, n=args.n, seed=args.seed, batch_size=args.batch_size)
    print(json.dumps(scores, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
