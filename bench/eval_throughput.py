"""`python -m bench.eval_throughput`: the evaluation engine against stock `generate`.

On the real SmolLM2-135M-Instruct (prepared through the registry), 64 chat prompts of varied
lengths, greedy, the same max_new_tokens for every side:

- engine: `python -m sandbox.engines.evaluate`, as jobs run it (sorted by length, left-padded
  batches, a preallocated cache, ended rows dropped, early stop);
- baseline: `model.generate` one prompt at a time;
- plain batched: `model.generate` on left-padded batches of the same size, prompts in input order;
- static cache: the same, with the library's own preallocated cache (`cache_implementation="static"`).

Figures are generated tokens per second (each output counted up to its end token). Also reported:
how many outputs are identical to the one-at-a-time ones (batching changes float rounding, so a
near-tie can rarely flip a greedy choice). The engine and both batched `generate` sides run --repeat
times (3), interleaved, and the fastest run of each counts; one-at-a-time runs once. The last line is
the headline, with "ratio" against one-at-a-time, "ratio_vs_plain_batched", "ratio_vs_static_cache"
and "ratio_vs_best_stock" (against the faster batched side). On CUDA every side runs in bf16.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from bench.train_throughput import (
    PROJECT_DIR,
    chat_example,
    model_flops_utilisation,
    prepared_base_model,
    report,
    write_jsonl,
)

PROMPTS = 64
BATCH_SIZE = 32
MAX_NEW_TOKENS = 48


GENERAL_QUESTIONS = [
    "What is the capital of France?",
    "Explain in two sentences what a router does.",
    "Give three tips for writing a clear bug report.",
    "What is the difference between RAM and storage?",
    "Write a haiku about a rainy Monday.",
    "How do I reset a forgotten password safely?",
    "Summarise the plot of Romeo and Juliet in one paragraph.",
    "Why is the sky blue?",
    "List the planets of the solar system in order.",
    "What should I check before buying a used laptop?",
    "Translate 'good morning, thank you' into Spanish.",
    "What is a healthy breakfast that takes five minutes?",
]


def prompt_set(count: int, seed: int = 1) -> list[dict[str, Any]]:
    """An evaluation set as challenges have one: task items (a support ticket of one to about six
    sentences, to extract, classify, summarise or answer) and general questions (the forgetting
    set), about 30 to 200 prompt tokens. Tasks reuse the training bench's generator."""
    rng = random.Random(seed)
    prompts = []
    for index in range(count):
        if index % 3 == 2:
            messages = [{"role": "user", "content": rng.choice(GENERAL_QUESTIONS)}]
        else:
            messages = chat_example(rng, max_sentences=5)["messages"][:-1]
        prompts.append({"id": f"q{index}", "messages": messages})
    return prompts


def run_engine(base_dir: Path, prompts_path: Path, workdir: Path, device: str) -> tuple[dict[str, Any], list]:
    spec = {
        "base_model_dir": str(base_dir),
        "adapter_dir": None,
        "prompts_path": str(prompts_path),
        "max_new_tokens": MAX_NEW_TOKENS,
        "batch_size": BATCH_SIZE,
        "device": device,
    }
    (workdir / "spec.json").write_text(json.dumps(spec))
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "sandbox.engines.evaluate",
            str(workdir / "spec.json"),
            str(workdir / "engine"),
        ],
        cwd=PROJECT_DIR,
        env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)},
        capture_output=True,
        text=True,
        check=False,
    )
    events = [json.loads(line) for line in completed.stdout.splitlines()]
    if completed.returncode != 0 or events[-1]["event"] != "done":
        raise SystemExit(f"the engine failed: {events[-1] if events else completed.stderr[-2000:]}")
    generations = [
        json.loads(line) for line in (workdir / "engine" / "generations.jsonl").read_text().splitlines()
    ]
    return events[-1], generations


def until_end(tokens: list[int], end_ids: set[int]) -> list[int]:
    for index, token in enumerate(tokens):
        if token in end_ids:
            return tokens[: index + 1]
    return tokens


def stock_generate(
    model,
    tokenizer,
    prompts: list[list[int]],
    batch_size: int,
    end_ids: set[int],
    cache_implementation: str | None = None,
):
    """`generate` over the prompts in input order, batch_size at a time, left-padded, with the
    library's default (dynamic) cache or the named one."""
    import torch

    outputs: list[list[int]] = []
    started = time.perf_counter()
    with torch.inference_mode():
        for begin in range(0, len(prompts), batch_size):
            chunk = prompts[begin : begin + batch_size]
            encoded = tokenizer.pad({"input_ids": chunk}, padding=True, return_tensors="pt").to(model.device)
            generated = model.generate(
                **encoded,
                max_new_tokens=MAX_NEW_TOKENS,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                cache_implementation=cache_implementation,
            )
            width = encoded["input_ids"].shape[1]
            outputs += [until_end(row[width:].tolist(), end_ids) for row in generated]
    return outputs, time.perf_counter() - started


def main() -> None:
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from sandbox.engines.chat import template_ids
    from sandbox.engines.common import eos_token_ids, load_tokenizer

    hf_logging.set_verbosity_error()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="Runs of the engine and of plain batched generate, interleaved; the fastest of each counts.",
    )
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    base_dir = prepared_base_model()
    prompts = prompt_set(PROMPTS)

    tokenizer = load_tokenizer(base_dir)
    tokenizer.padding_side = "left"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype).to(device).eval()
    end_ids = eos_token_ids(tokenizer, model)
    ids = [template_ids(tokenizer, p["messages"], add_generation_prompt=True) for p in prompts]

    # Interleaved, so that a slow spell of a shared host falls on both sides alike.
    engine_runs, batched_runs, static_runs = [], [], []
    for run in range(1, args.repeat + 1):
        with tempfile.TemporaryDirectory(prefix="bench-eval-") as folder:
            workdir = Path(folder)
            engine, generations = run_engine(
                base_dir, write_jsonl(workdir / "prompts.jsonl", prompts), workdir, device
            )
        engine_runs.append(engine)
        report(
            side="engine",
            run=run,
            tokens_per_second=round(engine["output_tokens"] / engine["generate_seconds"], 2),
            output_tokens=engine["output_tokens"],
            seconds=engine["generate_seconds"],
            prompt_tokens=engine["prompt_tokens"],
            prompt_padding_tokens=engine["prompt_padding_tokens"],
            forward_passes=engine["forward_passes"],
        )
        batched, batched_seconds = stock_generate(model, tokenizer, ids, BATCH_SIZE, end_ids)
        batched_runs.append(batched_seconds)
        report(
            side="plain_batched_generate",
            run=run,
            tokens_per_second=round(sum(map(len, batched)) / batched_seconds, 2),
            seconds=round(batched_seconds, 2),
        )
        static, static_seconds = stock_generate(model, tokenizer, ids, BATCH_SIZE, end_ids, "static")
        static_runs.append(static_seconds)
        report(
            side="static_cache_batched_generate",
            run=run,
            tokens_per_second=round(sum(map(len, static)) / static_seconds, 2),
            seconds=round(static_seconds, 2),
        )
    engine = min(engine_runs, key=lambda run: run["generate_seconds"])
    engine_tps = engine["output_tokens"] / engine["generate_seconds"]
    batched_tps = sum(map(len, batched)) / min(batched_runs)
    static_tps = sum(map(len, static)) / min(static_runs)

    single, single_seconds = stock_generate(model, tokenizer, ids, 1, end_ids)
    single_tps = sum(map(len, single)) / single_seconds
    report(
        side="one_at_a_time_generate",
        tokens_per_second=round(single_tps, 2),
        seconds=round(single_seconds, 2),
    )

    def same(tokens: list[int], generation: dict[str, Any]) -> bool:
        text = tokens[:-1] if tokens and tokens[-1] in end_ids else tokens
        return tokenizer.decode(text, skip_special_tokens=True) == generation["output"]

    report(
        bench="eval_throughput",
        value=round(engine_tps, 2),
        unit="generated tokens/s",
        baseline=round(single_tps, 2),
        ratio=round(engine_tps / single_tps, 3),
        baseline_name="generate, one prompt at a time",
        plain_batched=round(batched_tps, 2),
        ratio_vs_plain_batched=round(engine_tps / batched_tps, 3),
        static_cache=round(static_tps, 2),
        ratio_vs_static_cache=round(engine_tps / static_tps, 3),
        ratio_vs_best_stock=round(engine_tps / max(batched_tps, static_tps), 3),
        outputs_identical_to_baseline=sum(map(same, single, generations)),
        prompts=PROMPTS,
        runs=args.repeat,
        batch_size=BATCH_SIZE,
        max_new_tokens=MAX_NEW_TOKENS,
        model="smollm2-135m-instruct",
        device=device,
        dtype="bfloat16" if device == "cuda" else "float32",
        **(
            {
                "engine_mfu": model_flops_utilisation(
                    base_dir,
                    (engine["prompt_tokens"] + engine["output_tokens"]) / engine["generate_seconds"],
                    2,
                )
            }
            if device == "cuda"
            else {}
        ),
    )


if __name__ == "__main__":
    main()
