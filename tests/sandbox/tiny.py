"""A tiny, randomly initialised model of SmolLM2's architecture (Llama), built in code for tests.

Its tokenizer is built in code as well: a byte-level BPE trained on a small corpus below, with
SmolLM2's special tokens at the same ids (0 <|endoftext|>, 1 <|im_start|>, 2 <|im_end|>) and the
same ChatML chat template, so the engines see exactly the shapes and conventions of the real model.
Nothing is downloaded. Building takes well under a second.
"""

from __future__ import annotations

from pathlib import Path

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# As in SmolLM2: the end-of-turn token also ends generation and pads.
TOKEN_ROLES = {
    "bos_token": "<|im_start|>",
    "eos_token": "<|im_end|>",
    "pad_token": "<|im_end|>",
    "unk_token": "<|endoftext|>",
}

# SmolLM2-Instruct's template with a shorter default system message.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a tiny test assistant.<|im_end|>\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_CORPUS = """
You are a helpful assistant. Answer the question in one short sentence.
What colour is the sky? The sky is blue. What colour is grass? Grass is green.
Extract the fields of this support ticket as JSON: {"priority": "high", "product": "router", "sentiment": "negative"}
The customer cannot log in since the update and asks for a refund of 42 dollars.
Classify the review as positive or negative. The battery lasts all day and the screen is bright.
Translate to French: good morning, thank you, see you tomorrow. Bonjour, merci, a demain.
Summarise: the meeting moved to Thursday at 10:30 because the projector was broken.
system user assistant question answer label value name email order number date time
one two three four five six seven eight nine ten 0 1 2 3 4 5 6 7 8 9 { } [ ] : , . ? ! " '
""".strip().splitlines()


def build_tokenizer(vocab_size: int = 512):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_CORPUS, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=1024, **TOKEN_ROLES)
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(destination: Path, *, seed: int = 0, hidden_size: int = 64, layers: int = 2) -> Path:
    """Save a tiny Llama with its tokenizer to `destination` and return it."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden_size // 4,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        # No pad id in the model config: Llama would zero that embedding row, and with tied weights
        # the end-of-turn token (which pads, as in SmolLM2) could then hardly ever be predicted.
        # The tokenizer still pads with it.
        pad_token_id=None,
        # Larger than the usual 0.02 so that greedy choices are clear-cut rather than near-ties.
        initializer_range=0.1,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=2)
    destination.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(destination)
    tokenizer.save_pretrained(destination)
    return destination
