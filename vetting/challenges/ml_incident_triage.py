"""`ml-incident-triage`: an ML training incident report in, one category label out.

Each report is composed around one root cause: a symptom sentence and often a log line that only that
cause produces, inside context (model, hardware, framework), what was tried, and observations that
rule other causes out ("memory is flat at 60%"). Those observations are only ever about causes other
than the true one, so the label is always derivable; they are there so that keyword matching is not
enough.
"""

from __future__ import annotations

import random
from typing import Any

from vetting.challenges.base import Budgets, ChallengeSpec, Metric, PublishedPrompt

LABELS = (
    "out_of_memory",
    "loss_divergence",
    "overfitting",
    "data_pipeline",
    "checkpointing",
    "distributed_hang",
    "slow_throughput",
    "dependency_error",
)

SYMPTOMS = {
    "out_of_memory": [
        "The job dies at step {n} with a CUDA out-of-memory error.",
        "GPU memory climbs every step until the process is killed.",
        "We can no longer fit batch size {b} since raising max_seq_length to {L}.",
        "Training crashes as soon as the first long batch arrives; the allocator can't find {g} GiB.",
        "Host RAM fills up while loading the model and the kernel OOM killer ends the run.",
    ],
    "loss_divergence": [
        "The loss suddenly jumps to NaN around step {n}.",
        "Loss explodes right after warmup ends and never recovers.",
        "Gradient norm goes to inf and the loss becomes nan a few steps later.",
        "Loss was {x} and then spiked to 1e4 within {k} steps before turning into NaN.",
    ],
    "overfitting": [
        "Training loss keeps dropping but validation loss started rising after epoch {e}.",
        "The model memorises the training set: train accuracy is 99% while held-out accuracy keeps falling.",
        "Each extra epoch makes the eval score worse even though train loss is close to zero.",
        "Held-out loss bottomed out at epoch {e} and has climbed since, while training loss still falls.",
    ],
    "data_pipeline": [
        "The dataloader crashes on a malformed JSONL record in shard {k}.",
        "Some samples come out empty after tokenization and the collator chokes on them.",
        "A worker raises UnicodeDecodeError while reading shard {k}.",
        "After our preprocessing change the labels no longer line up with the inputs.",
        "The collate function fails because some records lack the 'messages' field.",
    ],
    "checkpointing": [
        "Saving the checkpoint at step {n} fails with disk quota exceeded.",
        "Resuming from the last checkpoint fails with missing keys in the state dict.",
        "The checkpoint files written at step {n} are truncated and won't load.",
        "The run finishes but the final adapter was never written to the output bucket.",
    ],
    "distributed_hang": [
        "All {r} ranks hang at the first all-reduce and nothing is logged after that.",
        "The NCCL watchdog times out after 30 minutes on every multi-node launch.",
        "Rank {rank} stops responding mid-epoch and the other ranks wait forever.",
        "The job freezes during gradient synchronisation whenever we use more than one node.",
    ],
    "slow_throughput": [
        "Tokens per second dropped from {a} to {slow} after the image upgrade.",
        "GPU utilisation hovers around {u}% and the step time doubled.",
        "The run is on track to take three times longer than our estimate.",
        "Each step takes {s} seconds now where it used to take a fraction of that.",
    ],
    "dependency_error": [
        "The job fails at startup with an ImportError since we bumped transformers.",
        "Our new container has a torch build that doesn't match the CUDA driver.",
        "Training won't even start: a module we rely on is missing from the new image.",
        "After pinning peft to a newer release the script fails while importing.",
    ],
}

LOGS = {
    "out_of_memory": [
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {g}.00 GiB",
        "RuntimeError: CUDA error: out of memory",
        "Killed process {pid} (python) total-vm:{big}kB, anon-rss:{big}kB",
    ],
    "loss_divergence": [
        "step {n}: loss=nan grad_norm=inf lr=2.0e-04",
        "WARNING non-finite loss detected at step {n}, skipping update",
        "step {n} | loss 9873.2 | grad_norm 4.1e+07",
    ],
    "overfitting": [
        "epoch {e}: train_loss=0.02 val_loss=1.91 (best val_loss 0.84 at epoch 1)",
        "eval/accuracy: 0.61 (prev 0.74) train/accuracy: 0.99",
    ],
    "data_pipeline": [
        "json.decoder.JSONDecodeError: Expecting value: line {n} column 1 (char 0)",
        "KeyError: 'messages' in collate_fn",
        "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position {k}",
        "ValueError: labels and input_ids have different lengths ({L} vs {L2})",
    ],
    "checkpointing": [
        "OSError: [Errno 28] No space left on device: 'checkpoint-{n}/adapter_model.safetensors'",
        "RuntimeError: Error(s) in loading state_dict: Missing key(s) in state_dict",
        "SafetensorError: Error while deserializing header: incomplete metadata, file not fully covered",
    ],
    "distributed_hang": [
        "[Rank {rank}] Watchdog caught collective operation timeout: WorkNCCL(SeqNum={n}, OpType=ALLREDUCE)",
        "NCCL WARN NET/Socket : Connection closed by remote peer",
        "torch.distributed.DistStoreError: Timed out after 1800 seconds waiting for clients",
    ],
    "slow_throughput": [
        "throughput: {slow} tokens/s (expected ~{a})",
        "step {n} took {s}.4s | gpu_util {u}%",
    ],
    "dependency_error": [
        "ImportError: cannot import name 'LlamaFlashAttention2' from 'transformers.models.llama'",
        "ModuleNotFoundError: No module named 'flash_attn'",
        "RuntimeError: The NVIDIA driver on your system is too old (found version 11040)",
    ],
}

# Observations that rule a cause out; used only for causes other than the true one.
RULED_OUT = {
    "out_of_memory": ["Memory is flat at about {u}% the whole time.", "No OOM anywhere in the logs."],
    "loss_divergence": ["The loss curve itself looks healthy.", "Loss is decreasing normally."],
    "overfitting": ["Validation loss tracks training loss closely."],
    "data_pipeline": ["The dataset passed our validation script.", "Data loading looks fine."],
    "checkpointing": ["Checkpoints save and load without problems."],
    "distributed_hang": ["Communication between ranks looks fine.", "All ranks stay in sync."],
    "slow_throughput": ["Throughput is where we expect it.", "Speed is normal."],
    "dependency_error": ["The environment is the same image as last week's good run."],
}

CONTEXT = [
    "We're fine-tuning a {size} model with LoRA (r={lora_r}) on {hw}.",
    "Setup: {size} base, {hw}, bf16, {framework}.",
    "This is our nightly {size} SFT job on {hw}.",
    "Model: {size}; hardware: {hw}; launcher: {launcher}.",
    "Full fine-tune of a {size} model across {r} GPUs.",
]
TRIED = [
    "We already restarted the job once.",
    "Tried a fresh node, same result.",
    "Nothing changed in the config since last week.",
    "Reverting the last commit didn't help.",
    "We added more logging but it didn't tell us much.",
]
HEADERS = [
    "Incident report",
    "[run {pid}] training failure",
    "Postmortem draft",
    "Pasted from the #ml-infra channel:",
    "Ticket: training job issue",
    "",
]
SIZES = ["1B", "7B", "135M", "3B", "13B", "360M"]
HARDWARE = [
    "8x A100 80GB",
    "a single H100",
    "4x L4",
    "2 nodes of 8x H100",
    "one RTX 4090",
    "TPU-less GPU box",
]
FRAMEWORKS = ["PyTorch FSDP", "DeepSpeed ZeRO-3", "plain PyTorch DDP", "HF Trainer", "Accelerate"]
LAUNCHERS = ["torchrun", "slurm", "accelerate launch", "deepspeed"]


class LabelMetric(Metric):
    """1 when the output, stripped and lower-cased, is exactly the label; else 0."""

    summary = "1 when the answer is exactly the right label (case and surrounding spaces ignored), else 0"

    def __init__(self, name: str, labels: tuple[str, ...]) -> None:
        self.name = name
        self.label_set = labels

    def score(self, output: str, target: Any) -> float:
        return 1.0 if output.strip().lower() == target else 0.0

    def render(self, target: Any) -> str:
        return target

    def check_target(self, target: Any) -> str | None:
        return None if target in self.label_set else "must be one of " + ", ".join(self.label_set)

    def parse_output(self, text: str) -> Any | None:
        label = text.strip().lower()
        return label if label in self.label_set else None

    def output_problem(self, text: str) -> str | None:
        return None if self.parse_output(text) is not None else "must be one of " + ", ".join(self.label_set)

    def labels(self, target: Any) -> dict[str, str]:
        return {"label": target}

    def label_values(self) -> dict[str, tuple[str, ...]]:
        return {"label": self.label_set}


def generate(rng: random.Random) -> tuple[str, str]:
    label = rng.choice(LABELS)
    fill = {
        "n": str(rng.randint(50, 90000)),
        "b": str(rng.choice([8, 16, 32, 64])),
        "L": str(rng.choice([2048, 4096, 8192])),
        "L2": str(rng.choice([2047, 4095, 8191])),
        "g": str(rng.randint(1, 20)),
        "x": f"{rng.uniform(0.8, 2.5):.2f}",
        "k": str(rng.randint(2, 400)),
        "e": str(rng.randint(2, 6)),
        "r": str(rng.choice([8, 16, 32, 64])),
        "rank": str(rng.randint(0, 31)),
        "a": str(rng.randint(30, 90) * 100),
        "slow": str(rng.randint(3, 20) * 100),
        "u": str(rng.randint(15, 45)),
        "s": str(rng.randint(3, 12)),
        "pid": str(rng.randint(1000, 99999)),
        "big": str(rng.randint(10**7, 9 * 10**7)),
        "size": rng.choice(SIZES),
        "hw": rng.choice(HARDWARE),
        "framework": rng.choice(FRAMEWORKS),
        "launcher": rng.choice(LAUNCHERS),
        "lora_r": str(rng.choice([4, 8, 16, 32, 64])),
    }

    def fill_in(text: str) -> str:
        for key, value in fill.items():
            text = text.replace("{" + key + "}", value)
        return text

    lines = []
    header = fill_in(rng.choice(HEADERS))
    if header:
        lines.append(header)
    body = []
    if rng.random() < 0.8:
        body.append(fill_in(rng.choice(CONTEXT)))
    body.append(fill_in(rng.choice(SYMPTOMS[label])))
    others = [other for other in LABELS if other != label]
    for other in rng.sample(others, k=rng.choice([0, 1, 1, 2])):
        body.insert(rng.randint(1, len(body)), fill_in(rng.choice(RULED_OUT[other])))
    if rng.random() < 0.5:
        body.append(fill_in(rng.choice(TRIED)))
    style = rng.random()
    if style < 0.3:
        lines += [f"- {sentence}" for sentence in body]
    elif style < 0.5:
        lines += body
    else:
        lines.append(" ".join(body))
    if rng.random() < 0.6:
        log = fill_in(rng.choice(LOGS[label]))
        lines.append(rng.choice(["Log:", "Last lines of the log:", "Traceback excerpt:", "```"]))
        lines.append(log + ("\n```" if lines[-1] == "```" else ""))
    if rng.random() < 0.3:
        lines.append(rng.choice(["Any ideas?", "Who owns this?", "cc @oncall", "Priority: P2", "Thanks!"]))
    text = "\n".join(lines)
    if rng.random() < 0.1:
        text = text.lower()
    return text, label


SYSTEM = (
    "You triage incident reports from ML training runs. Reply with exactly one label, nothing else: "
    + ", ".join(LABELS)
    + "."
)

SPEC = ChallengeSpec(
    slug="ml-incident-triage",
    title="ML training incident triage",
    task_type="classification",
    skills=("LoRA", "Classification"),
    summary="Label the root cause of an ML training incident report with one of eight categories.",
    instructions="""\
The input is an incident report about a model training run, written by an engineer: context, the
symptom, often a log excerpt, what was tried, and observations that rule other causes out. The
output is exactly one label, the root cause:

- out_of_memory: GPU or host memory exhausted.
- loss_divergence: the loss or gradients blow up (NaN, inf, spikes).
- overfitting: training improves while held-out metrics get worse.
- data_pipeline: malformed, empty or misaligned data, data loading errors.
- checkpointing: saving or loading checkpoints fails.
- distributed_hang: ranks hang or time out in collective communication.
- slow_throughput: the run works but far slower than it should.
- dependency_error: imports, versions or drivers break the job at startup.

Scoring: an item scores 1 when the output, stripped of surrounding spaces and lower-cased, is exactly
the right label, else 0.
""",
    prompt=PublishedPrompt(system=SYSTEM, user_template="Incident report:\n{input}\n\nLabel:"),
    metric=LabelMetric("ml_incident_label", LABELS),
    generate=generate,
    # Calibrated (vetting/calibration/results/ml-incident-triage.short-replay50.json): the careful
    # reference (with the base model's own one-word answers replayed) 0.445 keeping general ability
    # (change -0.0875 to 0.000), naive 0.745 losing it (-0.7125 to -0.500), mislabelled 0.130; README
    # "Calibrating pass marks".
    pass_threshold=0.38,
    forgetting_margin=0.161,
    band_strong=0.90,
    band_exceptional=0.96,
    max_new_tokens=12,
    budgets=Budgets(max_tokens_per_example=384),
    public_count=8,
)
