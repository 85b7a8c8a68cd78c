"""The training engine on the tiny model: it learns, it masks the loss to assistant tokens, its adapter
loads back to the same model, it is deterministic for a seed, and it keeps its command-line contract."""

# The fixtures are imported from engine_fixtures (tests/sandbox/conftest.py is shared), so their
# names are redefined as test parameters on purpose.

from __future__ import annotations

import json
import random

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from sandbox.engines.chat import (
    LengthBucketedSampler,
    encode_chat,
    length_bucketed_batches,
    right_padded,
)
from sandbox.engines.common import IGNORE_INDEX, EngineError
from sandbox.engines.train import parse_hyperparameters, run_training, summed_loss
from tests.sandbox.engine_fixtures import (
    COLOURS,
    colour_examples,
    colour_question,
    run_cli,
    train_spec,
    write_jsonl,
)

CONVERSATION = [
    {"role": "system", "content": "Answer with one word."},
    {"role": "user", "content": "What colour is the sky?"},
    {"role": "assistant", "content": "blue"},
    {"role": "user", "content": "And the grass?"},
    {"role": "assistant", "content": "It is green."},
]


def greedy(model, tokenizer, messages, max_new_tokens=8) -> list[int]:
    encoded = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.inference_mode():
        output = model.generate(**encoded, max_new_tokens=max_new_tokens, do_sample=False)
    return output[0, encoded["input_ids"].shape[1] :].tolist()


# --- the loss mask ----------------------------------------------------------------------------------


def test_labels_are_exactly_the_assistant_tokens_and_their_end_of_turn(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    eos = tokenizer.eos_token_id
    example = encode_chat(tokenizer, CONVERSATION, 512, {eos})

    def content_ids(text: str) -> list[int]:
        return tokenizer.encode(text, add_special_tokens=False)

    scored = [
        (i, token) for i, (token, label) in enumerate(zip(example.input_ids, example.labels, strict=True))
    ]
    labelled = [token for i, token in scored if example.labels[i] != IGNORE_INDEX]
    assert labelled == [*content_ids("blue"), eos, *content_ids("It is green."), eos]
    for i, token in scored:
        if example.labels[i] != IGNORE_INDEX:
            assert example.labels[i] == token
    # The two spans are separate, and nothing of the system or user turns is scored.
    spans = [i for i, _ in scored if example.labels[i] != IGNORE_INDEX]
    assert spans[-1] == len(example.input_ids) - 2  # the template's trailing newline is not trained
    assert len(spans) == len(labelled) and spans != list(range(spans[0], spans[-1] + 1))
    user_ids = content_ids("What colour is the sky?")
    start = next(
        i for i in range(len(example.input_ids)) if example.input_ids[i : i + len(user_ids)] == user_ids
    )
    assert all(label == IGNORE_INDEX for label in example.labels[start : start + len(user_ids)])
    assert example.loss_tokens == len(labelled)


def test_truncation_keeps_the_start_and_counts(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    full = encode_chat(tokenizer, CONVERSATION, 512, {tokenizer.eos_token_id})
    cut = encode_chat(tokenizer, CONVERSATION, 30, {tokenizer.eos_token_id})
    assert cut.truncated and not full.truncated
    assert cut.input_ids == full.input_ids[:30] and cut.labels == full.labels[:30]


def test_the_loss_counts_only_assistant_tokens_and_equals_the_models_own(tiny_model_dir):
    """The engine projects to the vocabulary only at scored positions; the sum must equal what the
    model computes over the whole sequence with the same labels, and must ignore every other token."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    eos = {tokenizer.eos_token_id}
    examples = [
        encode_chat(tokenizer, CONVERSATION, 512, eos),
        encode_chat(tokenizer, CONVERSATION[:3], 512, eos),
    ]
    input_ids, labels = right_padded(examples, tokenizer.pad_token_id, torch.device("cpu"))
    scored = sum(example.loss_tokens for example in examples)
    with torch.no_grad():
        ours = summed_loss(model.get_decoder(), model.get_output_embeddings(), input_ids, labels)
        mask = torch.zeros_like(input_ids)
        for row, example in enumerate(examples):
            mask[row, : len(example.input_ids)] = 1
        reference = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss * scored
        # With every label ignored there is nothing to score, whatever the input says.
        nothing = summed_loss(
            model.get_decoder(),
            model.get_output_embeddings(),
            input_ids,
            torch.full_like(labels, IGNORE_INDEX),
        )
    assert torch.allclose(ours, reference, rtol=1e-4), (ours, reference)
    assert float(nothing) == 0.0


# --- batching and hyperparameters ---------------------------------------------------------------


def test_length_bucketed_batches_cover_everything_and_waste_little_padding():
    rng = random.Random(0)
    lengths = [rng.randint(30, 400) for _ in range(200)]
    batches = length_bucketed_batches(lengths, 8, random.Random(1))
    assert sorted(i for batch in batches for i in batch) == list(range(200))

    def padding(batch_list):
        return sum(len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in batch_list)

    shuffled = list(range(200))
    random.Random(1).shuffle(shuffled)
    unsorted = [shuffled[k : k + 8] for k in range(0, 200, 8)]
    assert padding(batches) * 10 < padding(unsorted)
    assert batches == length_bucketed_batches(lengths, 8, random.Random(1))
    assert batches != length_bucketed_batches(lengths, 8, random.Random(2))


def test_the_sampler_gives_the_trainer_whole_buckets_in_a_new_order_each_epoch():
    rng = random.Random(0)
    lengths = [rng.randint(30, 400) for _ in range(203)]  # not a multiple of the batch: one short batch
    sampler = LengthBucketedSampler(lengths, 8, seed=3)
    epochs = [list(sampler) for _ in range(2)]
    assert len(sampler) == 203
    for order in epochs:
        assert sorted(order) == list(range(203))
        # Cut as the data loader cuts it, every batch is one of the bucketed batches, the short last.
        cut = [order[k : k + 8] for k in range(0, 203, 8)]
        assert len(cut[-1]) == 3 and all(len(batch) == 8 for batch in cut[:-1])
        spread = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in cut[:-1]]
        assert max(spread) < 60
    assert epochs[0] != epochs[1]
    again = LengthBucketedSampler(lengths, 8, seed=3)
    assert [list(again) for _ in range(2)] == epochs


def test_hyperparameters_are_validated_by_name():
    with pytest.raises(EngineError) as caught:
        parse_hyperparameters(
            {"rank": 0, "alpha": True, "lr_scheduler": "exp", "epochs": 1.5, "target_modules": [], "foo": 1}
        )
    message = str(caught.value)
    for key in ("rank", "alpha", "lr_scheduler", "epochs", "target_modules", "foo: unknown hyperparameter"):
        assert f"hyperparameters.{key}" in message
    assert parse_hyperparameters({"rank": 4, "target_modules": ["q_proj", "v_proj"]}).rank == 4


# --- training -------------------------------------------------------------------------------------


def test_training_lowers_the_loss_and_learns_the_task(trained):
    result, _ = trained
    metrics = result.metrics
    assert metrics["final_loss"] < metrics["first_loss"] / 3
    assert metrics["trained_tokens"] > 0 and metrics["loss_tokens"] < metrics["trained_tokens"]
    assert metrics["trainable_parameters"] == sum(
        p.numel() for p in result.model.parameters() if p.requires_grad
    )
    tokenizer = result.tokenizer
    result.model.eval()
    right = sum(
        tokenizer.decode(greedy(result.model, tokenizer, colour_question(thing)), skip_special_tokens=True)
        == colour
        for thing, colour in COLOURS.items()
    )
    assert right >= 6


def test_the_saved_adapter_loads_back_to_the_same_generations(trained, adapter_dir, tiny_model_dir):
    result, _ = trained
    assert sorted(p.name for p in adapter_dir.iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
    ]
    result.model.eval()
    fresh = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir), adapter_dir
    ).eval()
    tokenizer = result.tokenizer
    prompts = [colour_question(thing) for thing in COLOURS] + [
        [{"role": "user", "content": "Summarise the meeting notes, please."}]
    ]
    for messages in prompts:
        assert greedy(fresh, tokenizer, messages, 12) == greedy(result.model, tokenizer, messages, 12)
    # And it is not the base model's behaviour.
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    assert any(greedy(base, tokenizer, m, 12) != greedy(fresh, tokenizer, m, 12) for m in prompts)


def test_command_line_training_is_deterministic_for_a_seed(tiny_model_dir, colour_dataset, tmp_path):
    spec = train_spec(tiny_model_dir, colour_dataset, epochs=2, dropout=0.1)
    runs = [run_cli("train", spec, tmp_path / name) for name in ("first", "second")]
    for status, events, output in runs:
        assert status == 0, events
        progress = [event for event in events if event["event"] == "progress"]
        assert [event["step"] for event in progress] == list(range(1, progress[0]["total_steps"] + 1))
        assert all(event["tokens_per_second"] > 0 and event["elapsed"] >= 0 for event in progress)
        assert events[-1]["event"] == "done" and events[-1]["steps"] == len(progress)
        assert json.loads((output / "metrics.json").read_text())["steps"] == len(progress)
    first, second = (load_file(output / "adapter" / "adapter_model.safetensors") for _, _, output in runs)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)

    other = train_spec(tiny_model_dir, colour_dataset, epochs=2, dropout=0.1, seed=8)
    run_training(other, tmp_path / "other")
    different = load_file(tmp_path / "other" / "adapter" / "adapter_model.safetensors")
    assert any(not torch.equal(first[name], different[name]) for name in first)


def test_command_line_errors_are_one_json_line(tiny_model_dir, colour_dataset, tmp_path):
    status, events, _ = run_cli(
        "train", train_spec(tiny_model_dir, colour_dataset, qlora=True), tmp_path / "q"
    )
    assert status != 0 and len(events) == 1 and events[0]["event"] == "error"
    assert "QLoRA needs a CUDA GPU and bitsandbytes" in events[0]["message"]


def test_bad_inputs_are_named(tiny_model_dir, colour_dataset, tmp_path):
    bad = write_jsonl(
        tmp_path / "bad.jsonl", [*colour_examples(2), {"messages": [{"role": "user", "content": "hi"}]}]
    )
    with pytest.raises(EngineError, match=r"hyperparameters\.rank: must be an integer from 1 to 256"):
        run_training(train_spec(tiny_model_dir, bad, rank=1000), tmp_path / "r")
    with pytest.raises(EngineError, match="dataset line 3: no assistant message"):
        run_training(train_spec(tiny_model_dir, bad), tmp_path / "d")
    with pytest.raises(EngineError, match="target_modules: fc1 not a linear layer"):
        run_training(train_spec(tiny_model_dir, colour_dataset, target_modules=["fc1"]), tmp_path / "t")
