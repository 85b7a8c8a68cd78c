"""`python -m bench.train_throughput`: the training engine against the stock Hugging Face path.

Both sides train the same LoRA (same data, hyperparameters, seed and loss mask) on the real
SmolLM2-135M-Instruct, prepared through the registry (converted on first use). The baseline is
`transformers.Trainer` + PEFT with the standard padding collator (`DataCollatorForSeq2Seq`, padding
each batch to its longest example), run twice: with its default random sampler and with its own
length-grouped sampler (`train_sampling_strategy="group_by_length"`), the stock path at its best. The
headline ratio is against the better of the two. The engine runs through its command line, as jobs
run it. All figures are real (non-padding) tokens per second of training.

Prints one JSON object per line; the last is the headline:
{"bench", "value", "unit", "baseline", "ratio", ...}. On a CUDA machine the engine trains in bf16
and the bench adds model-FLOPs utilisation against the GPU's bf16 peak.
"""

from __future__ import annotations

import contextlib
import json
import math
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

PROJECT_DIR = Path(__file__).resolve().parent.parent
EXAMPLES = 64
HYPERPARAMETERS: dict[str, Any] = {
    "rank": 16,
    "alpha": 32,
    "dropout": 0.05,
    "target_modules": "all-linear",
    "learning_rate": 2e-4,
    "lr_scheduler": "linear",
    "warmup_ratio": 0.1,
    "epochs": 1,
    "batch_size": 8,
    "gradient_accumulation": 1,
    "max_seq_length": 512,
    "seed": 0,
    "qlora": False,
}
# Dense bf16 peaks, for model-FLOPs utilisation on CUDA; BENCH_PEAK_TFLOPS overrides.
# The stock Trainer's samplers: its default, and its length-grouped one (the stock path at its best).
STOCK_SAMPLERS = ("random", "group_by_length")
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0}


def report(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


# --- data: support-desk chats of realistic, varied lengths ----------------------------------------

PRODUCTS = ["router", "laptop", "phone", "printer", "headset", "monitor", "smart watch", "camera"]
ISSUES = [
    "stopped working after the last update",
    "will not turn on unless it is plugged in",
    "drops the connection every few minutes",
    "arrived with a cracked screen",
    "charges me twice every month",
    "shows an error about the licence",
    "is much slower than when I bought it",
    "makes a loud noise when it starts",
]
DETAILS = [
    "I have already restarted it twice and reset it to factory settings.",
    "My order number is {order} and I paid {amount} dollars on {day}.",
    "The support page says to contact you if the light keeps blinking orange.",
    "I use it every day for work, so this is urgent for me.",
    "My neighbour has the same model and hers works fine on the same network.",
    "I tried the steps in the manual but the menu they describe does not exist.",
    "Please tell me whether I can get a replacement or a refund.",
    "The delivery was two weeks late and the box was damaged as well.",
    "I would like to know if this is a known problem with this batch.",
    "I am travelling on {day} and need it fixed before then.",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
SYSTEMS = [
    "You are a support assistant for an electronics shop. Reply with JSON only.",
    "You are a careful assistant. Follow the instructions exactly.",
]


def _ticket(rng: random.Random, max_sentences: int) -> tuple[str, dict[str, Any]]:
    product, issue = rng.choice(PRODUCTS), rng.choice(ISSUES)
    facts = {"order": rng.randint(10000, 99999), "amount": rng.randint(20, 900), "day": rng.choice(DAYS)}
    sentences = rng.choice([n for n in (0, 1, 2, 3, 5, 8, 12, 16, 20) if n <= max_sentences])
    text = " ".join(
        [f"My {product} {issue}."] + [rng.choice(DETAILS).format(**facts) for _ in range(sentences)]
    )
    fields = {
        "product": product,
        "issue": issue,
        "priority": rng.choice(["low", "normal", "high"]),
        "wants_refund": rng.random() < 0.4,
    }
    return text, fields


def chat_example(rng: random.Random, max_sentences: int = 20) -> dict[str, Any]:
    """Extract, classify, summarise or reply to a ticket of 1 to 21 sentences: about 50 to 420 tokens."""
    ticket, fields = _ticket(rng, max_sentences)
    kind = rng.choice(["extract", "classify", "summarise", "reply"])
    if kind == "extract":
        request = f"Extract product, issue, priority and wants_refund as JSON from this ticket:\n{ticket}"
        answer = json.dumps(fields)
    elif kind == "classify":
        request = f"Is this ticket urgent? Answer yes or no.\n{ticket}"
        answer = rng.choice(["yes", "no"])
    elif kind == "summarise":
        request = f"Summarise this ticket for the engineer on call:\n{ticket}"
        answer = f"The customer's {fields['product']} {fields['issue']}. " * rng.randint(1, 4)
    else:
        request = f"Write a short, polite reply to this customer.\n{ticket}"
        lines = [
            "Thank you for writing to us.",
            f"We are sorry that your {fields['product']} {fields['issue']}.",
        ]
        answer = " ".join(lines + rng.sample(DETAILS[:3], rng.randint(0, 3)))
    messages = [{"role": "user", "content": request}, {"role": "assistant", "content": answer.strip()}]
    if rng.random() < 0.5:
        messages.insert(0, {"role": "system", "content": rng.choice(SYSTEMS)})
    return {"messages": messages}


def chat_dataset(count: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [chat_example(rng) for _ in range(count)]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def prepared_base_model() -> Path:
    from sandbox import registry

    result = registry.prepare(registry.DEFAULT_BASE_MODEL, say=lambda message: report(log=message))
    return result.path


# --- the two sides --------------------------------------------------------------------------------


def run_engine(base_dir: Path, dataset: Path, workdir: Path, device: str) -> dict[str, Any]:
    spec = {
        "base_model_dir": str(base_dir),
        "dataset_path": str(dataset),
        "hyperparameters": HYPERPARAMETERS,
        "device": device,
    }
    spec_path = workdir / "spec.json"
    spec_path.write_text(json.dumps(spec))
    completed = subprocess.run(
        [sys.executable, "-m", "sandbox.engines.train", str(spec_path), str(workdir / "engine")],
        cwd=PROJECT_DIR,
        env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)},
        capture_output=True,
        text=True,
        check=False,
    )
    events = [json.loads(line) for line in completed.stdout.splitlines()]
    if completed.returncode != 0 or events[-1]["event"] != "done":
        raise SystemExit(f"the engine failed: {events[-1] if events else completed.stderr[-2000:]}")
    return events[-1]


def run_stock_trainer(
    base_dir: Path, dataset: Path, workdir: Path, device: str, sampling: str
) -> dict[str, Any]:
    """transformers.Trainer + PEFT on the same tokenized examples (same assistant-only labels), with
    the given `train_sampling_strategy` ("random" or "group_by_length")."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, DataCollatorForSeq2Seq, Trainer, TrainingArguments
    from transformers.utils import logging as hf_logging

    from sandbox.engines.common import eos_token_ids, load_tokenizer
    from sandbox.engines.train import load_dataset

    hf_logging.set_verbosity_error()
    hp = HYPERPARAMETERS
    tokenizer = load_tokenizer(base_dir)
    tokenizer.padding_side = "right"
    examples = load_dataset(dataset, tokenizer, hp["max_seq_length"], eos_token_ids(tokenizer)).examples
    features = [
        {"input_ids": e.input_ids, "attention_mask": [1] * len(e.input_ids), "labels": e.labels}
        for e in examples
    ]
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype)
    torch.manual_seed(hp["seed"])
    model = get_peft_model(
        model,
        LoraConfig(
            r=hp["rank"],
            lora_alpha=hp["alpha"],
            lora_dropout=hp["dropout"],
            target_modules=hp["target_modules"],
            bias="none",
            task_type="CAUSAL_LM",
        ),
    )
    steps = math.ceil(len(features) / hp["batch_size"]) * hp["epochs"]
    arguments = TrainingArguments(
        output_dir=str(workdir / "trainer"),
        per_device_train_batch_size=hp["batch_size"],
        gradient_accumulation_steps=hp["gradient_accumulation"],
        num_train_epochs=hp["epochs"],
        learning_rate=hp["learning_rate"],
        lr_scheduler_type=hp["lr_scheduler"],
        warmup_steps=math.ceil(hp["warmup_ratio"] * steps),
        weight_decay=0.0,
        max_grad_norm=1.0,
        seed=hp["seed"],
        bf16=device.startswith("cuda"),
        use_cpu=not device.startswith("cuda"),
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        train_sampling_strategy=sampling,
    )
    trainer = Trainer(
        model=model,
        args=arguments,
        train_dataset=features,
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=-100),
    )
    with contextlib.redirect_stdout(sys.stderr):  # its log lines are not this bench's JSON
        result = trainer.train()
    tokens = sum(len(e.input_ids) for e in examples) * hp["epochs"]
    seconds = result.metrics["train_runtime"]
    return {"trained_tokens": tokens, "train_seconds": seconds, "mean_loss": result.training_loss}


# --- model-FLOPs utilisation (CUDA) ----------------------------------------------------------------


def model_flops_utilisation(
    base_dir: Path, tokens_per_second: float, flops_per_parameter: int = 6
) -> float | None:
    """FLOPs per token (6 x parameters to train, the usual convention; 2 x to run forward only) over
    the GPU's dense bf16 peak."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    name = torch.cuda.get_device_name()
    peak = os.environ.get("BENCH_PEAK_TFLOPS") or next(
        (v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None
    )
    if peak is None:
        return None
    with torch.device("meta"):
        parameters = sum(
            p.numel()
            for p in AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(base_dir)).parameters()
        )
    return flops_per_parameter * parameters * tokens_per_second / (float(peak) * 1e12)


def main() -> None:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    base_dir = prepared_base_model()
    with tempfile.TemporaryDirectory(prefix="bench-train-") as folder:
        workdir = Path(folder)
        dataset = write_jsonl(workdir / "train.jsonl", chat_dataset(EXAMPLES))
        started = time.perf_counter()
        engine = run_engine(base_dir, dataset, workdir, device)
        engine_tps = engine["trained_tokens"] / engine["train_seconds"]
        report(
            side="engine",
            tokens_per_second=round(engine_tps, 1),
            trained_tokens=engine["trained_tokens"],
            padding_tokens=engine["padding_tokens"],
            train_seconds=engine["train_seconds"],
            mean_loss=round(engine["mean_loss"], 4),
            wall_seconds=round(time.perf_counter() - started, 1),
        )
        stock_sides = {}
        for sampling in STOCK_SAMPLERS:
            started = time.perf_counter()
            stock = run_stock_trainer(base_dir, dataset, workdir, device, sampling)
            stock_sides[sampling] = stock["trained_tokens"] / stock["train_seconds"]
            report(
                side=f"hf_trainer_peft_{sampling}",
                tokens_per_second=round(stock_sides[sampling], 1),
                trained_tokens=stock["trained_tokens"],
                train_seconds=round(stock["train_seconds"], 3),
                mean_loss=round(stock["mean_loss"], 4),
                wall_seconds=round(time.perf_counter() - started, 1),
            )
    best = max(stock_sides, key=stock_sides.__getitem__)
    stock_tps = stock_sides[best]
    headline: dict[str, Any] = {
        "bench": "train_throughput",
        "value": round(engine_tps, 1),
        "unit": "real tokens/s",
        "baseline": round(stock_tps, 1),
        "ratio": round(engine_tps / stock_tps, 3),
        "baseline_name": f"transformers.Trainer + PEFT, padding collator, {best} sampler",
        "ratio_vs_random_sampler": round(engine_tps / stock_sides["random"], 3),
        "model": "smollm2-135m-instruct",
        "device": device,
        "dtype": "bfloat16" if device == "cuda" else "float32",
        "examples": EXAMPLES,
        "batch_size": HYPERPARAMETERS["batch_size"],
    }
    if device == "cuda":
        headline["engine_mfu"] = model_flops_utilisation(base_dir, engine_tps)
        headline["baseline_mfu"] = model_flops_utilisation(base_dir, stock_tps)
    report(**headline)


if __name__ == "__main__":
    main()
