"""The evaluation engine: batched, left-padded, length-sorted greedy generation gives exactly what
one-prompt-at-a-time `generate` gives, in input order, stops when every row has ended, and keeps its
command-line contract."""

# The fixtures are imported from engine_fixtures (tests/sandbox/conftest.py is shared), so their
# names are redefined as test parameters on purpose.

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from sandbox.engines.chat import template_ids
from sandbox.engines.common import EngineError
from sandbox.engines.evaluate import (
    Prompt,
    greedy_generate,
    load_model,
    preallocated_cache,
    prompt_batch,
    prompt_batches,
    prompt_groups,
    prompts_pass,
    run_evaluation,
    shared_prefix,
)
from tests.sandbox.engine_fixtures import (
    COLOURS,
    COUNT_ANSWER,
    COUNT_QUESTION,
    colour_question,
    run_cli,
    write_jsonl,
)

WORDS = [
    "the",
    "customer",
    "asks",
    "about",
    "a",
    "refund",
    "for",
    "the",
    "router",
    "order",
    "and",
    "the",
    "meeting",
    "moved",
    "to",
    "Thursday",
]


def varied_prompts(count: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    prompts = []
    for index in range(count):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40)))
        messages = [{"role": "user", "content": text}]
        if index % 2:
            messages.insert(0, {"role": "system", "content": "Be brief."})
        prompts.append({"id": f"p{index}", "messages": messages})
    return prompts


def one_at_a_time(model, tokenizer, prompts: list[dict], max_new_tokens: int) -> list[list[int]]:
    outputs = []
    with torch.inference_mode():
        for prompt in prompts:
            ids = tokenizer.apply_chat_template(
                prompt["messages"], add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
            generated = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False)
            outputs.append(generated[0, ids["input_ids"].shape[1] :].tolist())
    return outputs


def prompt_ids(tokenizer, prompts: list[dict]) -> list[list[int]]:
    """Each prompt's token ids, as the engine builds them."""
    return [template_ids(tokenizer, p["messages"], add_generation_prompt=True) for p in prompts]


def generate_greedily(model, tokenizer, ids: list[list[int]], max_new_tokens: int):
    """The engine's decode loop on the CPU, as a job runs it."""
    return greedy_generate(
        model,
        ids,
        pad_id=tokenizer.pad_token_id,
        end_ids={tokenizer.eos_token_id},
        max_new_tokens=max_new_tokens,
        device=torch.device("cpu"),
    )


def assert_same_cache(mine, theirs, lengths: torch.Tensor, width: int) -> None:
    """Every row's keys and values agree up to its own length, in every layer."""
    for row, length in enumerate(lengths.tolist()):
        for layer, other in zip(mine.layers, theirs.layers, strict=True):
            assert layer.get_seq_length() == other.get_seq_length() == width
            torch.testing.assert_close(layer.keys[row, :, :length], other.keys[row, :, :length])
            torch.testing.assert_close(layer.values[row, :, :length], other.values[row, :, :length])


def eval_spec(model_dir: Path, prompts_path: Path, adapter: Path | None = None, **overrides) -> dict:
    return {
        "base_model_dir": str(model_dir),
        "adapter_dir": str(adapter) if adapter else None,
        "prompts_path": str(prompts_path),
        "max_new_tokens": 12,
        "batch_size": 4,
        "device": "cpu",
        "cpu_threads": 1,
        **overrides,
    }


def read_generations(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "generations.jsonl").read_text().splitlines()]


def test_command_line_batched_generation_equals_one_at_a_time(tiny_model_dir, tmp_path):
    prompts = varied_prompts(10)
    path = write_jsonl(tmp_path / "prompts.jsonl", prompts)
    status, events, output = run_cli("evaluate", eval_spec(tiny_model_dir, path), tmp_path / "run")
    assert status == 0, events
    progress = [event for event in events if event["event"] == "progress"]
    assert [event["step"] for event in progress] == [1, 2, 3] and progress[0]["total_steps"] == 3
    assert events[-1]["event"] == "done" and events[-1]["prompts"] == 10

    generations = read_generations(output)
    assert [g["id"] for g in generations] == [p["id"] for p in prompts]  # input order, not sorted order
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    expected = one_at_a_time(model, tokenizer, prompts, 12)
    lengths = set()
    for generation, tokens, ids in zip(generations, expected, prompt_ids(tokenizer, prompts), strict=True):
        text_tokens = tokens[:-1] if tokens and tokens[-1] == tokenizer.eos_token_id else tokens
        assert generation["output"] == tokenizer.decode(text_tokens, skip_special_tokens=True)
        assert generation["output_tokens"] == len(tokens)
        assert generation["prompt_tokens"] == len(ids)
        lengths.add(len(ids))
    assert len(lengths) >= 8  # the batches really were left-padded


def test_with_an_adapter_every_row_stops_at_its_end_and_matches_generate(
    trained, adapter_dir, tiny_model_dir, tmp_path
):
    prompts = [{"id": thing, "messages": colour_question(thing)} for thing in COLOURS]
    prompts += [{"id": "count", "messages": COUNT_QUESTION}]
    prompts += [{"id": p["id"], "messages": p["messages"]} for p in varied_prompts(5, seed=3)]
    path = write_jsonl(tmp_path / "prompts.jsonl", prompts)
    metrics = run_evaluation(
        eval_spec(tiny_model_dir, path, adapter_dir, max_new_tokens=16), tmp_path / "out"
    )
    generations = {g["id"]: g for g in read_generations(tmp_path / "out")}

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    unmerged = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir), adapter_dir
    ).eval()
    expected = one_at_a_time(unmerged, tokenizer, prompts, 16)
    for prompt, tokens in zip(prompts, expected, strict=True):
        assert generations[prompt["id"]]["output_tokens"] == len(tokens), prompt["id"]
        text_tokens = tokens[:-1] if tokens[-1] == tokenizer.eos_token_id else tokens
        assert generations[prompt["id"]]["output"] == tokenizer.decode(text_tokens, skip_special_tokens=True)
    right = sum(generations[thing]["output"] == colour for thing, colour in COLOURS.items())
    assert right >= 6
    assert metrics["ended_with_eos"] >= 9
    # Early stop: batches ran as many steps as their longest answer, not max_new_tokens each.
    assert metrics["forward_passes"] < metrics["batches"] * 16


def test_each_prompt_generates_to_its_own_limit_in_batches_of_one_limit(tiny_model_dir, tmp_path):
    """Two sets of prompts in one job (a model's task items and its general questions): each prompt
    gets what `generate` gives it at its own limit, a batch never mixes limits, and prompts that
    name no limit take the spec's."""
    prompts = varied_prompts(9, seed=5)
    limits = {
        p["id"]: (3 if index % 3 == 0 else 9 if index % 3 == 1 else None) for index, p in enumerate(prompts)
    }
    records = [p | ({"max_new_tokens": limits[p["id"]]} if limits[p["id"]] else {}) for p in prompts]
    path = write_jsonl(tmp_path / "prompts.jsonl", records)
    metrics = run_evaluation(eval_spec(tiny_model_dir, path, max_new_tokens=6), tmp_path / "out")
    generations = {g["id"]: g for g in read_generations(tmp_path / "out")}

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    for prompt in prompts:
        limit = limits[prompt["id"]] or 6
        (tokens,) = one_at_a_time(model, tokenizer, [prompt], limit)
        assert generations[prompt["id"]]["output_tokens"] == len(tokens) <= limit, prompt["id"]
        text_tokens = tokens[:-1] if tokens[-1] == tokenizer.eos_token_id else tokens
        assert generations[prompt["id"]]["output"] == tokenizer.decode(text_tokens, skip_special_tokens=True)
    assert metrics["max_new_tokens"] == 9
    assert metrics["batches"] == 3  # three prompts per limit, batch_size 4: one batch each
    assert metrics["prompts"] == 9


def test_prompt_batches_keep_one_limit_each_and_put_the_roomiest_first():
    def prompt(length: int, limit: int) -> Prompt:
        return Prompt(id=f"{length}/{limit}", ids=[1] * length, max_new_tokens=limit)

    prompts = [prompt(5, 8), prompt(30, 2), prompt(7, 8), prompt(6, 40), prompt(9, 8), prompt(2, 2)]
    batches = prompt_batches(prompts, batch_size=2)
    assert batches == [[3], [1, 5], [4, 2], [0]]
    for batch in batches:
        assert len({prompts[index].max_new_tokens for index in batch}) == 1
    assert sorted(index for batch in batches for index in batch) == list(range(len(prompts)))


def test_rows_that_end_are_dropped_and_the_rest_still_match(adapter_dir, tiny_model_dir):
    """Three short answers and one long one (counting) in one batch: the ended rows leave the batch
    (the cache is compacted) and the long row still generates what it generates alone."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    merged = load_model(tiny_model_dir, adapter_dir, torch.device("cpu"), merge=True)
    prompts = [{"messages": colour_question(thing)} for thing in ("sky", "grass", "snow")]
    prompts.append({"messages": COUNT_QUESTION})
    ids = prompt_ids(tokenizer, prompts)
    with torch.inference_mode():
        generated = generate_greedily(merged, tokenizer, ids, 30)
    assert generated.outputs == one_at_a_time(merged, tokenizer, prompts, 30)
    assert tokenizer.decode(generated.outputs[3], skip_special_tokens=True) == COUNT_ANSWER
    assert generated.compactions >= 1
    # It stopped when the last row ended, not at max_new_tokens.
    assert generated.passes == len(generated.outputs[3]) < 30


def test_prompt_groups_bound_padding_and_cover_every_row_once():
    lengths = [30, 200, 31, 190, 120, 29, 121, 200, 60]
    groups = prompt_groups(lengths)
    assert sorted(row for group in groups for row in group) == list(range(len(lengths)))
    for group in groups:
        widest = max(lengths[row] for row in group)
        padding = sum(widest - lengths[row] for row in group)
        assert padding <= 0.1 * widest * len(group), (group, padding)
    assert [sorted(lengths[row] for row in group) for group in groups][:1] == [[190, 200, 200]]
    assert len(groups) == 4  # {200, 200, 190}, {121, 120}, {60}, {31, 30, 29}


def test_grouped_prompts_pass_computes_what_one_padded_pass_does(tiny_model_dir):
    """The prompts' pass in groups of near-equal length gives each row the same next-token logits
    and the same keys and values as one pass over the whole right-padded batch, with less padding."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    ids = prompt_ids(tokenizer, varied_prompts(12, seed=5))
    input_ids, lengths = prompt_batch(ids, tokenizer.pad_token_id, torch.device("cpu"))
    layers = model.config.num_hidden_layers
    results = {}
    with torch.inference_mode():
        for grouped in (False, True):
            cache = preallocated_cache(layers, input_ids.shape[1] + 4)
            logits, padding = prompts_pass(model, cache, input_ids, lengths, grouped=grouped)
            results[grouped] = (logits, padding, cache)
    (whole, whole_padding, whole_cache), (parts, part_padding, part_cache) = results[False], results[True]
    torch.testing.assert_close(parts, whole, rtol=1e-4, atol=1e-5)
    assert part_padding < whole_padding
    assert_same_cache(part_cache, whole_cache, lengths, input_ids.shape[1])


def few_shot_prompts(count: int) -> list[dict]:
    """Prompts as the few-shot baseline sends them: the same system turn and example turns first,
    then each its own question."""
    examples = []
    for thing in ("sky", "grass", "snow"):
        examples += [*colour_question(thing), {"role": "assistant", "content": COLOURS[thing]}]
    system = {"role": "system", "content": "Answer with one word."}
    return [
        {"id": f"f{index}", "messages": [system, *examples, *prompt["messages"]]}
        for index, prompt in enumerate(varied_prompts(count, seed=3))
    ]


def test_the_common_prefix_is_found_and_leaves_each_prompt_a_token_of_its_own():
    head = list(range(100, 120))
    short = head[:10]
    assert shared_prefix([[*head, 1, 2], [*head, 1, 3, 4], [*head, 1]]) == 20  # the shortest keeps one
    assert shared_prefix([[*head, 1, 2], [*head, 5]]) == 20
    assert shared_prefix([[*short, 1], [*short, 2]]) == 0  # too short to be worth a pass
    assert shared_prefix([[*head, 1]]) == 0  # one prompt: nothing to share
    assert shared_prefix([head, head]) == 19


def test_a_common_prefix_computed_once_gives_what_every_row_computing_it_gives(tiny_model_dir):
    """The few-shot prompts' shared turns, computed once as one row, give every row the same logits
    and keys and values as computing them in each row, grouped and in one pass; generation then
    matches one prompt at a time."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    prompts = few_shot_prompts(9)
    ids = prompt_ids(tokenizer, prompts)
    prefix = shared_prefix(ids)
    assert prefix > 0.6 * min(map(len, ids))  # most of each prompt
    input_ids, lengths = prompt_batch(ids, tokenizer.pad_token_id, torch.device("cpu"))
    layers = model.config.num_hidden_layers
    with torch.inference_mode():
        for grouped in (False, True):
            results = []
            for shared in (0, prefix):
                cache = preallocated_cache(layers, input_ids.shape[1] + 4)
                logits, _ = prompts_pass(model, cache, input_ids, lengths, grouped=grouped, prefix=shared)
                results.append((logits, cache))
            (logits, cache), (shared_logits, shared_cache) = results
            torch.testing.assert_close(shared_logits, logits, rtol=1e-4, atol=1e-5)
            assert_same_cache(shared_cache, cache, lengths, input_ids.shape[1])
        generated = generate_greedily(model, tokenizer, ids, 8)
    assert generated.shared == prefix
    assert generated.outputs == one_at_a_time(model, tokenizer, prompts, 8)


def test_prompts_are_checked(tiny_model_dir, tmp_path):
    path = write_jsonl(
        tmp_path / "prompts.jsonl",
        [
            {"id": 1, "messages": [{"role": "user", "content": "hi"}]},
            {"id": 1, "messages": [{"role": "user", "content": "again"}]},
            {"id": 2, "messages": [{"role": "robot", "content": "x"}]},
            {"id": 3, "messages": [{"role": "user", "content": "hi"}], "max_new_tokens": 0},
            {"id": 4, "messages": [{"role": "user", "content": "hi"}], "max_new_tokens": "12"},
            {"id": 5, "messages": [{"role": "user", "content": "hi"}], "max_new_tokens": 4097},
        ],
    )
    with pytest.raises(EngineError) as caught:
        run_evaluation(eval_spec(tiny_model_dir, path), tmp_path / "out")
    assert "prompts line 2: duplicate id 1" in str(caught.value)
    assert "prompts line 3: message 1: unknown role 'robot'; use system, user or assistant" in str(
        caught.value
    )
    for line in (4, 5, 6):
        assert f"prompts line {line}: max_new_tokens: must be an integer from 1 to 4096" in str(caught.value)


def test_an_adapter_folder_with_a_pickle_is_refused(tiny_model_dir, adapter_dir, tmp_path):
    hostile = tmp_path / "adapter"
    hostile.mkdir()
    for item in adapter_dir.iterdir():
        (hostile / item.name).write_bytes(item.read_bytes())
    (hostile / "adapter_model.bin").write_bytes(b"not even opened")
    path = write_jsonl(tmp_path / "prompts.jsonl", [{"id": 1, "messages": colour_question("sky")}])
    with pytest.raises(EngineError, match="pickle files are not accepted"):
        run_evaluation(eval_spec(tiny_model_dir, path, hostile), tmp_path / "out")


@pytest.mark.parametrize(
    ("spec_threads", "share", "expected"),
    [(None, "1", 1), (2, "1", 2), (None, "", None), (None, "lots", None)],
)
def test_an_engine_keeps_to_its_sandbox_share_of_the_cpus(monkeypatch, spec_threads, share, expected):
    """OMP_NUM_THREADS (the confinement's SANDBOX_CPU_THREADS) caps torch's threads unless the spec says."""
    from sandbox.engines.common import available_cpus, configure_torch

    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", share)
    try:
        configure_torch(torch.device("cpu"), spec_threads)
        assert torch.get_num_threads() == (expected or available_cpus())
    finally:
        torch.set_num_threads(before)
