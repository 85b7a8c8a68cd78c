"""Batched greedy generation engine: `python -m sandbox.engines.evaluate SPEC.json OUTPUT_DIR`.

SPEC.json: {"base_model_dir", "adapter_dir" (or null), "prompts_path" (JSONL of {"id", "messages"} and,
optionally, the prompt's own "max_new_tokens", an integer), "max_new_tokens" (for prompts without one),
"batch_size", "device"}. Writes OUTPUT_DIR/generations.jsonl ({"id", "output", "prompt_tokens",
"output_tokens"}, in input order) and OUTPUT_DIR/metrics.json, and prints JSON-lines events like the
training engine (one progress event per batch). Scoring is not done here.

One job can answer several sets of prompts with different generation lengths (a model's task items
and its general-knowledge questions): the model is loaded once, and each batch holds prompts of one
length limit. Within a limit, prompts are sorted by length and batched, so that a batch pays for
little padding.

The decode loop is written by hand to save what `generate` spends on a generic path: the prompts' pass
runs without an attention mask (see `greedy_generate`), and on a CPU in groups of near-equal length so
that it computes almost no padding (a third of an evaluation's arithmetic there); the prompts' longest
common prefix (the system message and, for the few-shot baseline, every example turn: about nine tenths
of its tokens) is computed once and its keys and values shared by every row; keys and values go into
buffers allocated once for the whole batch instead of being concatenated (copied) at every step, rows
that have ended are dropped from the batch (on a CPU once an eighth of it has ended, on a GPU once half
has), and the loop stops when every row has ended.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.engines.chat import template_ids
from sandbox.engines.common import (
    EngineError,
    Progress,
    check_messages,
    check_model_dir,
    configure_torch,
    eos_token_ids,
    forbid_pickles,
    load_tokenizer,
    log,
    raise_problems,
    read_jsonl,
    resolve_device,
    run_engine,
    spec_dir,
    spec_file,
    spec_int,
)

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

MAX_NEW_TOKENS = 4096
MAX_BATCH_SIZE = 512


# --- the key/value cache -------------------------------------------------------------------------


def preallocated_cache(num_layers: int, capacity: int) -> Any:
    """A transformers Cache whose layers write keys and values in place into buffers of `capacity`."""
    from transformers.cache_utils import Cache, DynamicLayer

    class PreallocatedLayer(DynamicLayer):
        def __init__(self) -> None:
            super().__init__()
            self.length = 0

        def lazy_initialization(
            self, key_states: torch.Tensor, value_states: torch.Tensor, batch: int | None = None
        ) -> None:
            rows, heads, _, dim = key_states.shape
            self.dtype, self.device = key_states.dtype, key_states.device
            # Zeros: positions a row never writes (its padding) are masked, and must not be NaN.
            shape = (batch or rows, heads, capacity)
            self.key_buffer = key_states.new_zeros((*shape, dim))
            self.value_buffer = value_states.new_zeros((*shape, value_states.shape[-1]))
            self.is_initialized = True

        def write_rows(
            self, rows: torch.Tensor, key_states: torch.Tensor, value_states: torch.Tensor, batch: int
        ) -> None:
            """Keys and values of some rows' prompts, computed apart from the rest of the batch."""
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states, batch)
            width = key_states.shape[-2]
            self.key_buffer[rows, :, :width] = key_states
            self.value_buffer[rows, :, :width] = value_states

        def set_length(self, length: int) -> None:
            self.length = length
            self.keys = self.key_buffer[:, :, :length]
            self.values = self.value_buffer[:, :, :length]

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            end = self.length + key_states.shape[-2]
            self.key_buffer[:, :, self.length : end] = key_states
            self.value_buffer[:, :, self.length : end] = value_states
            self.length = end
            self.keys = self.key_buffer[:, :, :end]
            self.values = self.value_buffer[:, :, :end]
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.length

        def batch_select_indices(self, indices: torch.Tensor) -> None:
            if self.is_initialized:
                self.key_buffer = self.key_buffer[indices]
                self.value_buffer = self.value_buffer[indices]
                self.keys = self.key_buffer[:, :, : self.length]
                self.values = self.value_buffer[:, :, : self.length]

    return Cache(layers=[PreallocatedLayer() for _ in range(num_layers)])


# --- greedy decoding -----------------------------------------------------------------------------


# Ended rows are dropped from the batch once they are this share of it.
COMPACT_SHARE_CPU = 0.125
COMPACT_SHARE_GPU = 0.5


@dataclass
class Generated:
    outputs: list[list[int]]  # per prompt, ending with its end token when it produced one
    passes: int  # forward passes run: 1 (the prompts) + decoding steps
    compactions: int  # times ended rows were dropped from the batch
    padding: int  # pad tokens the prompts' pass computed
    shared: int  # leading tokens common to every prompt, computed once for the batch


def prompt_batch(
    prompts: list[list[int]], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """The prompts as one tensor, padded on the right, and their lengths."""
    import torch

    width = max(len(prompt) for prompt in prompts)
    input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    for row, prompt in enumerate(prompts):
        input_ids[row, : len(prompt)] = torch.tensor(prompt, dtype=torch.long)
    lengths = torch.tensor([len(prompt) for prompt in prompts], dtype=torch.long)
    return input_ids.to(device), lengths.to(device)


def greedy_generate(
    model: PreTrainedModel,
    prompts: list[list[int]],
    *,
    pad_id: int,
    end_ids: set[int],
    max_new_tokens: int,
    device: torch.device,
) -> Generated:
    """Greedy continuations of a batch of prompts, each ending at its first end token (included).

    The padding sits between each prompt and its continuation: the first pass reads the prompts
    padded on the right, where the causal mask alone keeps every real token from seeing the pads
    after it, so attention needs no mask and takes its fused causal path (a left-padded first pass
    needs a full mask and measured about 1.5x slower); each row's first token is read at its own
    last position. The pads' keys and values stay in the cache as a hole that every decoding step
    masks, which is left padding as far as the generated tokens can tell, and new tokens are
    positioned from each row's own length: every row computes what it would compute alone.
    """
    import torch

    input_ids, lengths = prompt_batch(prompts, pad_id, device)
    batch, width = input_ids.shape
    layers = model.config.get_text_config().num_hidden_layers
    cache = preallocated_cache(layers, width + max_new_tokens)
    on_cpu = device.type == "cpu"
    shared = shared_prefix(prompts)
    logits, padding = prompts_pass(model, cache, input_ids, lengths, grouped=on_cpu, prefix=shared)
    # A CPU's step costs about in proportion to its rows, and copying the cache costs a fraction of a
    # step: drop ended rows early. A GPU's step costs about the same for any number of rows.
    compact_share = COMPACT_SHARE_CPU if on_cpu else COMPACT_SHARE_GPU
    mask = (torch.arange(width, device=device)[None, :] < lengths[:, None]).long()
    next_position = lengths[:, None].clone()
    end_tensor = torch.tensor(sorted(end_ids), device=device)
    outputs: list[list[int]] = [[] for _ in prompts]
    rows = torch.arange(batch, device=device)  # the prompt index of each row still in the batch
    alive = torch.ones(batch, dtype=torch.bool, device=device)
    passes, compactions = 1, 0
    for step in range(max_new_tokens):
        tokens = logits.argmax(-1)
        for row, token in zip(rows[alive].tolist(), tokens[alive].tolist(), strict=True):
            outputs[row].append(token)
        alive &= ~torch.isin(tokens, end_tensor)
        if step + 1 == max_new_tokens or not bool(alive.any()):
            break
        if len(rows) - int(alive.sum()) >= max(1, int(len(rows) * compact_share)):
            # Enough rows have ended: stop computing them (the cache's rows are copied once).
            keep = alive.nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            rows, alive, tokens = rows[keep], alive[keep], tokens[keep]
            mask, next_position = mask[keep], next_position[keep]
            compactions += 1
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
        logits = model(
            input_ids=tokens[:, None], attention_mask=mask, position_ids=next_position, past_key_values=cache
        ).logits[:, -1]
        next_position = next_position + 1
        passes += 1
    return Generated(outputs, passes, compactions, padding, shared)


# A common prefix shorter than this is computed with each row: one more pass costs more than it saves.
MIN_SHARED_PREFIX = 16


def shared_prefix(prompts: list[list[int]]) -> int:
    """How many leading tokens every prompt has in common, leaving each at least one of its own (its
    next-token logits come from its own last token); 0 when that is too short to be worth a pass."""
    if len(prompts) < 2:
        return 0
    first, limit = prompts[0], min(len(prompt) for prompt in prompts) - 1
    length = 0
    while length < limit and all(prompt[length] == first[length] for prompt in prompts):
        length += 1
    return length if length >= MIN_SHARED_PREFIX else 0


# Prompts' pass in groups (CPU): a group ends where padding its next row would cost more than this
# share of the group's tokens...
GROUP_PADDING_SHARE = 0.1
# ...or past this many tokens (a group is one forward pass; its activations are what it holds).
GROUP_MAX_TOKENS = 4096


def prompt_groups(lengths: list[int]) -> list[list[int]]:
    """Row indices in groups of near-equal length, longest first, each padded little."""
    order = sorted(range(len(lengths)), key=lambda row: lengths[row], reverse=True)
    groups: list[list[int]] = []
    for row in order:
        group = groups[-1] if groups else None
        if group is not None:
            widest, rows = lengths[group[0]], len(group) + 1
            real = sum(lengths[member] for member in group) + lengths[row]
            padding = widest * rows - real
            if padding <= GROUP_PADDING_SHARE * widest * rows and widest * rows <= GROUP_MAX_TOKENS:
                group.append(row)
                continue
        groups.append([row])
    return groups


def prompts_pass(
    model: PreTrainedModel,
    cache: Any,
    input_ids: torch.Tensor,
    lengths: torch.Tensor,
    *,
    grouped: bool,
    prefix: int = 0,
) -> tuple[torch.Tensor, int]:
    """Run the prompts (padded on the right) into `cache`; returns each row's next-token logits and
    the pad tokens computed.

    `grouped`: in groups of near-equal length (`prompt_groups`), each padded only to its own longest,
    their keys and values copied into the batch's buffers; otherwise one pass over the whole batch
    (on a GPU padding costs little and one launch beats several). `prefix`: the first `prefix` tokens
    are the same in every row (`shared_prefix`): they are computed once, as one row, and each row's
    own tokens then attend to their keys and values.
    """
    import torch
    from transformers.cache_utils import DynamicCache

    batch, width = input_ids.shape
    decoder, head = model.get_decoder(), model.get_output_embeddings()
    common = DynamicCache()
    if prefix:
        decoder(input_ids=input_ids[:1, :prefix], past_key_values=common, use_cache=True)

    def continuing(rows: int) -> DynamicCache:
        """A cache that holds the common prefix's keys and values once per row (a copy each; the
        arithmetic is what is saved)."""
        seeded = DynamicCache()
        for index, layer in enumerate(common.layers):
            seeded.update(layer.keys.expand(rows, -1, -1, -1), layer.values.expand(rows, -1, -1, -1), index)
        return seeded

    if not grouped:
        if prefix:
            every_row = torch.arange(batch, device=input_ids.device)
            for mine, computed in zip(cache.layers, common.layers, strict=True):
                keys, values = (
                    tensor.expand(batch, -1, -1, -1) for tensor in (computed.keys, computed.values)
                )
                mine.write_rows(every_row, keys, values, batch)
                mine.set_length(prefix)
        hidden = decoder(
            input_ids=input_ids[:, prefix:], past_key_values=cache, use_cache=True
        ).last_hidden_state
        logits = head(hidden[torch.arange(batch, device=input_ids.device), lengths - 1 - prefix])
        return logits, batch * width - int(lengths.sum())
    logits, padding = None, 0
    for group in prompt_groups(lengths.tolist()):
        rows = torch.tensor(group, device=input_ids.device)
        group_lengths = lengths[rows]
        group_width = int(group_lengths.max())
        padding += len(group) * group_width - int(group_lengths.sum())
        group_cache = continuing(len(group)) if prefix else DynamicCache()
        hidden = decoder(
            input_ids=input_ids[rows, prefix:group_width], past_key_values=group_cache, use_cache=True
        ).last_hidden_state
        group_logits = head(hidden[torch.arange(len(group), device=rows.device), group_lengths - 1 - prefix])
        if logits is None:
            logits = group_logits.new_empty((batch, group_logits.shape[-1]))
        logits[rows] = group_logits
        for layer, computed in zip(cache.layers, group_cache.layers, strict=True):
            layer.write_rows(rows, computed.keys, computed.values, batch)
    for layer in cache.layers:
        layer.set_length(width)
    return logits, padding


# --- inputs and the model ------------------------------------------------------------------------


@dataclass
class Prompt:
    id: Any
    ids: list[int]
    max_new_tokens: int


def load_prompts(path: Path, tokenizer: Any, max_positions: int, max_new_tokens: int) -> list[Prompt]:
    """The prompts file's prompts, tokenized; `max_new_tokens` is the limit of those that name none."""
    prompts: list[Prompt] = []
    seen: set[str] = set()
    problems: list[str] = []
    for number, record in read_jsonl(path, "prompts"):
        where = f"prompts line {number}"
        try:
            if not isinstance(record, dict) or "id" not in record:
                raise EngineError(f"{where}: must be an object with 'id' and 'messages'")
            key = json.dumps(record["id"], sort_keys=True)
            if key in seen:
                raise EngineError(f"{where}: duplicate id {record['id']!r}")
            seen.add(key)
            try:
                limit = spec_int(record, "max_new_tokens", 1, MAX_NEW_TOKENS, default=max_new_tokens)
            except EngineError as exc:
                raise EngineError(f"{where}: {exc}") from None
            messages = check_messages(record.get("messages"), where)
            ids = template_ids(tokenizer, messages, add_generation_prompt=True)
            if len(ids) + limit > max_positions:
                raise EngineError(
                    f"{where}: {len(ids)} prompt tokens + max_new_tokens {limit} exceed the model's "
                    f"{max_positions}"
                )
        except EngineError as exc:
            problems.append(str(exc))
            continue
        prompts.append(Prompt(record["id"], ids, limit))
    raise_problems("invalid prompts", problems)
    return prompts


def prompt_batches(prompts: list[Prompt], batch_size: int) -> list[list[int]]:
    """Prompt indices in batches of at most `batch_size`, each of one length limit and sorted by prompt
    length; the batch that needs the most room (prompt + limit) first, so that one too big for memory
    fails at once rather than at the end."""
    by_limit: dict[int, list[int]] = {}
    for index, prompt in enumerate(prompts):
        by_limit.setdefault(prompt.max_new_tokens, []).append(index)
    batches: list[list[int]] = []
    for indices in by_limit.values():
        order = sorted(indices, key=lambda index: len(prompts[index].ids), reverse=True)
        batches += [order[begin : begin + batch_size] for begin in range(0, len(order), batch_size)]

    def room(batch: list[int]) -> int:
        return len(prompts[batch[0]].ids) + prompts[batch[0]].max_new_tokens

    return sorted(batches, key=room, reverse=True)


def load_model(
    base_dir: Path, adapter_dir: Path | None, device: torch.device, merge: bool
) -> PreTrainedModel:
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base_dir, local_files_only=True, dtype=dtype).to(device)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_dir, is_trainable=False)
        if merge:
            # Folding the LoRA product into the weights makes each step cost what the base model's does.
            model = model.merge_and_unload()
    return model.eval()


def resolve_adapter(spec: dict[str, Any]) -> Path | None:
    if spec.get("adapter_dir") is None:
        return None
    adapter_dir = spec_dir(spec, "adapter_dir")
    forbid_pickles(adapter_dir, "adapter_dir")
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        if not (adapter_dir / name).is_file():
            raise EngineError(f"adapter_dir: {name} is missing")
    return adapter_dir


# --- the engine ----------------------------------------------------------------------------------


def run_evaluation(spec: dict[str, Any], output_dir: Path) -> dict[str, Any]:
    import torch

    base_dir = spec_dir(spec, "base_model_dir")
    check_model_dir(base_dir)
    adapter_dir = resolve_adapter(spec)
    prompts_path = spec_file(spec, "prompts_path")
    max_new_tokens = spec_int(spec, "max_new_tokens", 1, MAX_NEW_TOKENS)
    batch_size = spec_int(spec, "batch_size", 1, MAX_BATCH_SIZE)
    merge = spec.get("merge_adapter", True)
    if not isinstance(merge, bool):
        raise EngineError("merge_adapter: must be true or false")
    device = resolve_device(spec.get("device", "cpu"))
    configure_torch(device, spec.get("cpu_threads"))

    output_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tokenizer = load_tokenizer(base_dir)
    model = load_model(base_dir, adapter_dir, device, merge)
    max_positions = int(getattr(model.config.get_text_config(), "max_position_embeddings", 1 << 20))
    prompts = load_prompts(prompts_path, tokenizer, max_positions, max_new_tokens)
    end_ids = eos_token_ids(tokenizer, model)
    log(f"{len(prompts)} prompts; model loaded on {device} in {time.perf_counter() - started:.1f}s")

    batches = prompt_batches(prompts, batch_size)
    outputs: list[list[int]] = [[] for _ in prompts]
    progress = Progress(total_steps=len(batches))
    passes = padding = compactions = 0
    with torch.inference_mode():
        for number, batch in enumerate(batches, start=1):
            batch_prompts = [prompts[index].ids for index in batch]
            generated = greedy_generate(
                model,
                batch_prompts,
                pad_id=int(tokenizer.pad_token_id),
                end_ids=end_ids,
                max_new_tokens=prompts[batch[0]].max_new_tokens,
                device=device,
            )
            for index, tokens in zip(batch, generated.outputs, strict=True):
                outputs[index] = tokens
            passes += generated.passes
            compactions += generated.compactions
            padding += generated.padding
            progress.step(number, tokens=sum(map(len, generated.outputs)), prompts=len(batch))
    return write_generations(output_dir, prompts, outputs, tokenizer, end_ids) | {
        "prompts": len(prompts),
        "batches": len(batches),
        "batch_size": batch_size,
        "max_new_tokens": max((prompt.max_new_tokens for prompt in prompts), default=max_new_tokens),
        "forward_passes": passes,
        "compactions": compactions,
        "prompt_padding_tokens": padding,
        "generate_seconds": round(progress.elapsed, 3),
        "output_tokens_per_second": round(progress.tokens_per_second(), 2),
        "device": str(device),
        "dtype": "bfloat16" if device.type == "cuda" else "float32",
        "adapter": adapter_dir is not None,
    }


def write_generations(
    output_dir: Path, prompts: list[Prompt], outputs: list[list[int]], tokenizer: Any, end_ids: set[int]
) -> dict[str, Any]:
    prompt_tokens = output_tokens = ended = 0
    with (output_dir / "generations.jsonl").open("w", encoding="utf-8") as handle:
        for prompt, tokens in zip(prompts, outputs, strict=True):
            text_tokens = tokens[:-1] if tokens and tokens[-1] in end_ids else tokens
            ended += len(text_tokens) < len(tokens)
            record = {
                "id": prompt.id,
                "output": tokenizer.decode(text_tokens, skip_special_tokens=True),
                "prompt_tokens": len(prompt.ids),
                "output_tokens": len(tokens),
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            prompt_tokens += len(prompt.ids)
            output_tokens += len(tokens)
    return {"prompt_tokens": prompt_tokens, "output_tokens": output_tokens, "ended_with_eos": ended}


def main(spec: dict[str, Any], output_dir: Path) -> dict[str, Any]:
    return run_evaluation(spec, output_dir)


if __name__ == "__main__":
    sys.exit(run_engine(main))
