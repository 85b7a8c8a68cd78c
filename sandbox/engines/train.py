"""LoRA training engine: `python -m sandbox.engines.train SPEC.json OUTPUT_DIR`.

SPEC.json: {"base_model_dir", "dataset_path" (chat JSONL), "hyperparameters": {...}, "device"}.
Writes OUTPUT_DIR/adapter/ (PEFT: adapter_model.safetensors + adapter_config.json) and
OUTPUT_DIR/metrics.json, and prints JSON-lines events (progress, log, done or error) on stdout.

The loop is `transformers.Trainer`'s. The engine adds what a generic trainer cannot assume about
this data: batches of similar lengths padded only to their own longest example (a sampler that sorts
the whole set within wide windows), no attention mask (right padding under a causal mask needs none),
and the output layer run only on the positions whose next token is scored (assistant tokens), which
spares most of the 49k-wide vocabulary projection and its softmax. `python -m bench.train_throughput`
measures the engine against the stock Trainer at its best.
"""

from __future__ import annotations

import functools
import math
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.engines import hyperparameters
from sandbox.engines.chat import (
    EncodedChat,
    LengthBucketedSampler,
    describe_lengths,
    encode_chat,
    right_padded,
)
from sandbox.engines.common import (
    IGNORE_INDEX,
    EngineError,
    Progress,
    check_messages,
    configure_torch,
    eos_token_ids,
    linear_module_names,
    load_tokenizer,
    log,
    raise_problems,
    read_jsonl,
    resolve_device,
    run_engine,
    spec_dir,
    spec_file,
)

if TYPE_CHECKING:
    import torch
    from peft import PeftModel
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

MAX_GRAD_NORM = 1.0  # as transformers.Trainer, so that results compare
# The schema's scheduler names, as transformers calls them.
HF_SCHEDULERS = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}


# --- hyperparameters -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Hyperparameters:
    """Checked values (defaults and bounds: sandbox.engines.hyperparameters.ENGINE)."""

    rank: int
    alpha: float
    dropout: float
    target_modules: tuple[str, ...] | str
    learning_rate: float
    lr_scheduler: str
    warmup_ratio: float
    epochs: int
    batch_size: int
    gradient_accumulation: int
    max_seq_length: int
    seed: int
    qlora: bool


def parse_hyperparameters(raw: Any) -> Hyperparameters:
    """Validate every key against the engine's schema, naming each bad one; keys left out take the
    defaults (sandbox.engines.hyperparameters, the one schema the platform narrows too)."""
    values, problems = hyperparameters.check(raw, hyperparameters.ENGINE)
    if problems and problems[0][0] == "hyperparameters" and not values:
        raise EngineError("hyperparameters: must be an object")
    raise_problems(
        "invalid hyperparameters", [f"hyperparameters.{key}: {problem}" for key, problem in problems]
    )
    if isinstance(values["target_modules"], list):
        values["target_modules"] = tuple(values["target_modules"])
    return Hyperparameters(**values)


# --- data ----------------------------------------------------------------------------------------


@dataclass
class TrainingData:
    examples: list[EncodedChat]
    truncated: int
    dropped: int


def load_dataset(
    path: Path, tokenizer: PreTrainedTokenizerBase, max_seq_length: int, end_of_turn: set[int]
) -> TrainingData:
    examples: list[EncodedChat] = []
    problems: list[str] = []
    truncated = dropped = 0
    for number, record in read_jsonl(path, "dataset"):
        where = f"dataset line {number}"
        try:
            if not isinstance(record, dict):
                raise EngineError(f"{where}: must be an object with 'messages'")
            messages = check_messages(record.get("messages"), where)
            if not any(message["role"] == "assistant" for message in messages):
                raise EngineError(f"{where}: no assistant message to learn from")
            try:
                example = encode_chat(tokenizer, messages, max_seq_length, end_of_turn)
            except EngineError as exc:
                raise EngineError(f"{where}: {exc}") from exc
        except EngineError as exc:
            problems.append(str(exc))
            continue
        truncated += example.truncated
        if example.loss_tokens == 0:
            dropped += 1  # truncation cut every assistant token: nothing left to learn
            continue
        examples.append(example)
    raise_problems("invalid dataset", problems)
    if not examples:
        raise EngineError("dataset: no example has an assistant token within max_seq_length")
    return TrainingData(examples, truncated, dropped)


# --- model ---------------------------------------------------------------------------------------


def check_qlora_possible(device: torch.device) -> None:
    if device.type != "cuda":
        raise EngineError(
            "hyperparameters.qlora: QLoRA needs a CUDA GPU and bitsandbytes (4-bit weights); "
            f"this job runs on {device.type}. Set qlora to false to train LoRA in full precision."
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        raise EngineError(
            "hyperparameters.qlora: QLoRA needs the bitsandbytes package, which this host lacks"
        ) from exc


def load_base_model(base_dir: Path, device: torch.device, qlora: bool) -> PreTrainedModel:
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"local_files_only": True, "dtype": torch.float32}
    if device.type == "cuda":
        # The frozen base in bf16 halves memory and traffic; the LoRA weights stay fp32 (see attach_lora).
        kwargs["dtype"] = torch.bfloat16
        if qlora:
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch.bfloat16,
            )
            kwargs["device_map"] = {"": device.index or 0}
    model = AutoModelForCausalLM.from_pretrained(base_dir, **kwargs)
    if not qlora:
        model.to(device)
    model.config.use_cache = False
    return model


def resolve_targets(model: PreTrainedModel, targets: tuple[str, ...] | str) -> list[str] | str:
    if targets == "all-linear":
        return targets  # peft expands it to every linear layer except the output layer
    names = linear_module_names(model)
    short = sorted({name.rsplit(".", 1)[-1] for name in names})
    missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
    if missing:
        raise EngineError(
            f"hyperparameters.target_modules: {', '.join(missing)} not a linear layer of this base model; "
            f"it has {', '.join(short)}"
        )
    return list(targets)


def attach_lora(model: PreTrainedModel, hp: Hyperparameters) -> PeftModel:
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if hp.qlora:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    config = LoraConfig(
        r=hp.rank,
        lora_alpha=hp.alpha,
        lora_dropout=hp.dropout,
        target_modules=resolve_targets(model, hp.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    torch.manual_seed(hp.seed)  # the LoRA A matrices are initialised at random
    peft_model = get_peft_model(model, config)
    for parameter in peft_model.parameters():
        if parameter.requires_grad:
            parameter.data = parameter.data.float()
    return peft_model


# --- the loop ------------------------------------------------------------------------------------


@dataclass
class LoopResult:
    steps: int
    losses: list[float]
    trained_tokens: int
    loss_tokens: int
    padding_tokens: int
    train_seconds: float


def collate(examples: list[EncodedChat], pad_id: int) -> dict[str, torch.Tensor]:
    """A batch padded on the right to its own longest example (no attention mask: see right_padded),
    with each example's length, so that the step can count its real tokens."""
    import torch

    input_ids, labels = right_padded(examples, pad_id, torch.device("cpu"))
    lengths = torch.tensor([len(example.input_ids) for example in examples])
    return {"input_ids": input_ids, "labels": labels, "lengths": lengths}


def summed_loss(
    backbone: torch.nn.Module, head: torch.nn.Module, input_ids: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Sum of the cross-entropy over scored tokens, projecting to the vocabulary only where scored."""
    import torch.nn.functional as F

    hidden = backbone(input_ids=input_ids, use_cache=False).last_hidden_state
    targets = labels[:, 1:]
    scored = targets != IGNORE_INDEX
    logits = head(hidden[:, :-1][scored])
    return F.cross_entropy(logits.float(), targets[scored], reduction="sum")


def training_arguments(hp: Hyperparameters, scratch: Path, device: torch.device) -> Any:
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(scratch),
        per_device_train_batch_size=hp.batch_size,
        gradient_accumulation_steps=hp.gradient_accumulation,
        num_train_epochs=hp.epochs,
        learning_rate=hp.learning_rate,
        lr_scheduler_type=HF_SCHEDULERS[hp.lr_scheduler],
        warmup_steps=hp.warmup_ratio,  # a float below 1: that share of the steps, rounded up
        optim="adamw_torch",
        weight_decay=0.0,
        max_grad_norm=MAX_GRAD_NORM,
        seed=hp.seed,
        bf16=device.type == "cuda",
        use_cpu=device.type == "cpu",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        logging_strategy="no",
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
    )


def train_loop(
    model: PeftModel, data: list[EncodedChat], hp: Hyperparameters, pad_id: int, device: torch.device
) -> LoopResult:
    """`transformers.Trainer` runs the loop (optimizer, schedule, accumulation, clipping, bf16
    autocast on CUDA, seeding). The engine gives it three things: the length-bucketed sampler (the
    whole dataset sorted within windows of 64 batches; the Trainer's own `group_by_length` sorts within
    four mega-batches: ten times the padding on the tests' 64-example task), the loss over scored positions only
    (`summed_loss`), and the sandbox's progress events with the divergence check."""
    import torch
    from transformers import PrinterCallback, Trainer, TrainerCallback

    inner = model.get_base_model()
    backbone, head = inner.get_decoder(), inner.get_output_embeddings()
    losses: list[float] = []
    totals = {"loss_tokens": 0, "padding": 0}

    def zero() -> torch.Tensor:
        return torch.zeros((), dtype=torch.float64, device=device)

    # This step's sums, kept on the device (the data loader runs a batch ahead, so they are counted
    # where each batch is used, not where it is collated): loss, scored, real and padded tokens.
    step = {"loss": zero(), "scored": zero(), "real": zero(), "padded": zero()}

    class ScoredLossTrainer(Trainer):
        loss_is_scaled_for_ga = True  # the loss below is already a mean over the whole step

        def _get_train_sampler(self, train_dataset=None):
            return LengthBucketedSampler(lengths, hp.batch_size, hp.seed)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            input_ids, labels = inputs["input_ids"], inputs["labels"]
            loss_sum = summed_loss(backbone, head, input_ids, labels)
            step["loss"] += loss_sum.detach()
            step["scored"] += (labels[:, 1:] != IGNORE_INDEX).sum()
            step["real"] += inputs["lengths"].sum()
            step["padded"] += input_ids.numel()
            return loss_sum / num_items_in_batch

    class Events(TrainerCallback):
        progress: Progress

        def on_train_begin(self, args, state, control, **kwargs):
            self.progress = Progress(total_steps=state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
            loss_sum, scored, real, padded = torch.stack(list(step.values())).tolist()  # one sync
            loss = loss_sum / max(scored, 1)
            if not math.isfinite(loss):
                raise EngineError(
                    f"training diverged: the loss is not finite at step {state.global_step}; "
                    "lower learning_rate"
                )
            losses.append(loss)
            totals["loss_tokens"] += int(scored)
            totals["padding"] += int(padded - real)
            self.progress.step(state.global_step, tokens=int(real), loss=round(loss, 6))
            for value in step.values():
                value.zero_()

    lengths = [len(example.input_ids) for example in data]
    events = Events()
    with tempfile.TemporaryDirectory(prefix="trainer-") as scratch:  # it saves nothing there
        trainer = ScoredLossTrainer(
            model=model,
            args=training_arguments(hp, Path(scratch), device),
            train_dataset=data,
            data_collator=functools.partial(collate, pad_id=pad_id),
            callbacks=[events],
        )
        trainer.remove_callback(PrinterCallback)  # its log lines are not events
        trainer.train()
    return LoopResult(
        len(losses),
        losses,
        events.progress.tokens,
        totals["loss_tokens"],
        totals["padding"],
        events.progress.elapsed,
    )


# --- the engine ----------------------------------------------------------------------------------


@dataclass
class TrainResult:
    model: PeftModel
    tokenizer: PreTrainedTokenizerBase
    metrics: dict[str, Any]


def run_training(spec: dict[str, Any], output_dir: Path) -> TrainResult:
    """Train and save; returns the in-memory model as well, for tests and benchmarks."""
    hp = parse_hyperparameters(spec.get("hyperparameters"))
    device = resolve_device(spec.get("device", "cpu"))
    base_dir = spec_dir(spec, "base_model_dir")
    dataset_path = spec_file(spec, "dataset_path")
    if hp.qlora:
        check_qlora_possible(device)
    configure_torch(device, spec.get("cpu_threads"))
    output_dir.mkdir(parents=True, exist_ok=True)

    tokenizer = load_tokenizer(base_dir)
    started = time.perf_counter()
    data = load_dataset(dataset_path, tokenizer, hp.max_seq_length, eos_token_ids(tokenizer))
    lengths = describe_lengths([len(example.input_ids) for example in data.examples])
    log(
        f"dataset: {len(data.examples)} examples, lengths {lengths}, {data.truncated} truncated, "
        f"{data.dropped} dropped (no assistant token within max_seq_length)"
    )
    model = attach_lora(load_base_model(base_dir, device, hp.qlora), hp)
    trainable = sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
    log(f"model loaded on {device} in {time.perf_counter() - started:.1f}s; {trainable} trainable parameters")

    result = train_loop(model, data.examples, hp, int(tokenizer.pad_token_id), device)

    adapter_dir = output_dir / "adapter"
    model.save_pretrained(adapter_dir, safe_serialization=True)
    (adapter_dir / "README.md").unlink(missing_ok=True)  # a generated model card; nobody reads it here
    for path in adapter_dir.iterdir():
        path.chmod(0o644)  # safetensors writes 0600; the evaluation sandbox may read it as another user
    metrics = {
        "trained_tokens": result.trained_tokens,
        "loss_tokens": result.loss_tokens,
        "padding_tokens": result.padding_tokens,
        "trainable_parameters": trainable,
        "steps": result.steps,
        "epochs": hp.epochs,
        "examples": len(data.examples),
        "truncated_examples": data.truncated,
        "dropped_examples": data.dropped,
        "first_loss": result.losses[0],
        "final_loss": result.losses[-1],
        "mean_loss": sum(result.losses) / len(result.losses),
        "train_seconds": round(result.train_seconds, 3),
        "tokens_per_second": round(result.trained_tokens / max(result.train_seconds, 1e-9), 2),
        "adapter_bytes": (adapter_dir / "adapter_model.safetensors").stat().st_size,
        "device": str(device),
        "dtype": "bfloat16" if device.type == "cuda" else "float32",
        "hyperparameters": asdict(hp),
    }
    return TrainResult(model, tokenizer, metrics)


def main(spec: dict[str, Any], output_dir: Path) -> dict[str, Any]:
    import torch

    # CPU kernels are deterministic for a given thread count; this warns about any op that is not.
    # Set here rather than in run_training because it is process-wide.
    torch.use_deterministic_algorithms(True, warn_only=True)
    return run_training(spec, output_dir).metrics


if __name__ == "__main__":
    sys.exit(run_engine(main))
