"""The reference datasets a calibration submits, from what an engineer can see only.

- careful: task examples covering every case the public instructions name, in the published prompt
  format, plus self-distilled general replay (everyday instructions answered by the base model itself,
  so that tuning keeps those answers), at a moderate learning rate;
- naive: the same task examples only, at a high learning rate;
- mislabelled: the careful dataset with the task examples' outputs shuffled among them.

Task examples come from `vetting.calibration.references` (written from the public instructions), never
from the challenge's generator; the distillation prompts are everyday instructions of kinds the general
set does not ask.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from vetting.models import Challenge

DISTILL_MAX_NEW_TOKENS = 48

# Everyday instructions for self-distillation; none of the general set's kinds (repeat a word,
# capitals, opposites, languages spoken, plurals).
DISTILL_TEMPLATES = {
    "Write one short sentence about {}.": [
        "the ocean",
        "autumn leaves",
        "a rainy morning",
        "fresh bread",
        "a quiet library",
        "mountain hiking",
        "city buses",
        "a birthday party",
        "learning to swim",
        "a summer night",
        "old photographs",
        "a busy kitchen",
        "snow in the park",
        "a long train ride",
        "planting tomatoes",
        "a lighthouse",
    ],
    "Give me one tip for {}.": [
        "sleeping better",
        "saving money",
        "studying for an exam",
        "keeping plants alive",
        "running faster",
        "writing an email",
        "packing a suitcase",
        "cooking rice",
        "staying focused",
        "making new friends",
        "learning a song",
        "cleaning a window",
        "drinking more water",
        "giving a speech",
    ],
    "What is {} times {}?": [(a, b) for a in (2, 3, 4, 5, 10) for b in (3, 4, 6, 7, 10, 11)],
    "Describe a {} in a few words.": [
        "cat",
        "sunflower",
        "bicycle",
        "volcano",
        "library",
        "penguin",
        "rainforest",
        "sandwich",
        "thunderstorm",
        "clock",
        "waterfall",
        "backpack",
        "kitten",
        "desert island",
    ],
    "What is a {} used for?": [
        "hammer",
        "spoon",
        "ladder",
        "thermometer",
        "compass",
        "stapler",
        "broom",
        "calculator",
        "microscope",
        "toothbrush",
        "map",
        "whistle",
        "net",
        "bucket",
    ],
    "Suggest a name for a pet {}.": ["dog", "goldfish", "hamster", "parrot", "turtle", "rabbit", "pony"],
    "Why do people like {}?": [
        "holidays",
        "music",
        "ice cream",
        "gardens",
        "board games",
        "long walks",
        "movies",
        "the beach",
        "pizza",
        "sunny days",
    ],
    "Name something you might find in a {}.": [
        "kitchen",
        "classroom",
        "garage",
        "hospital",
        "forest",
        "supermarket",
        "toolbox",
        "museum",
        "office",
    ],
}


# Questions that ask for a one-word (or one-number) answer, of kinds the general set does not ask. A
# task whose answers are short labels teaches the model to answer any short question with a label;
# replaying the base model's own short answers keeps that habit inside the task's prompt.
SHORT_ANSWER_TEMPLATES = {
    "Which animal says '{}'? Answer with one word.": ["moo", "woof", "meow", "quack", "oink", "baa", "neigh"],
    "What colour is {}? Answer with one word.": [
        "grass", "the sky", "snow", "a banana", "coal", "a ripe tomato", "an orange", "milk", "a lemon",
    ],
    "How many {}? Answer with a number.": [
        "legs does a dog have", "days are in a week", "months are in a year", "wheels does a bicycle have",
        "sides does a triangle have", "hours are in a day", "fingers are on one hand", "legs does a spider have",
    ],
    "What is the past tense of '{}'? Answer with one word.": [
        "go", "eat", "run", "see", "write", "swim", "sing", "buy", "take", "drink",
    ],
    "What do we call a baby {}? Answer with one word.": ["cat", "dog", "cow", "sheep", "horse", "duck", "frog"],
    "Which is larger, {} or {}? Answer with one word.": [
        ("an elephant", "a mouse"), ("the sun", "the moon"), ("a city", "a village"), ("an ocean", "a pond"),
        ("a whale", "a fish"), ("a tree", "a flower"),
    ],
    "What do {} make? Answer with one word.": ["bees", "cows", "spiders", "chickens", "bakers", "authors"],
    "Which season comes after {}? Answer with one word.": ["winter", "spring", "summer", "autumn"],
}  # fmt: skip


class NotEnoughPrompts(ValueError):
    pass


def _filled(templates: dict[str, list[Any]]) -> list[str]:
    return [
        template.format(*(filler if isinstance(filler, tuple) else (filler,)))
        for template, fillers in templates.items()
        for filler in fillers
    ]


def distill_prompts(count: int, rng: random.Random, *, short_answers: int = 0) -> list[str]:
    """`count` everyday instructions and `short_answers` one-word questions, in a seeded order."""
    prompts = _filled(DISTILL_TEMPLATES)
    short = _filled(SHORT_ANSWER_TEMPLATES)
    rng.shuffle(prompts)
    if count > len(prompts):
        raise NotEnoughPrompts(f"At most {len(prompts)} general examples (the distillation prompts).")
    if short_answers > len(short):
        raise NotEnoughPrompts(f"At most {len(short)} short-answer examples (the distillation prompts).")
    if not short_answers:
        return prompts[:count]  # the sequence every earlier record was made with
    rng.shuffle(short)
    picked = prompts[:count] + short[:short_answers]
    rng.shuffle(picked)
    return picked


def chat(messages: list[dict[str, str]]) -> str:
    return json.dumps({"messages": messages}, ensure_ascii=False)


def task_chat(challenge: Challenge, text: str, output: str) -> str:
    system = [{"role": "system", "content": challenge.system_prompt}] if challenge.system_prompt else []
    return chat(
        [
            *system,
            {"role": "user", "content": challenge.prompt.user_content(text)},
            {"role": "assistant", "content": output},
        ]
    )


def general_chat(prompt: str, answer: str) -> str:
    return chat([{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}])


KINDS = ("careful", "naive", "mislabelled")


@dataclass(frozen=True)
class Recipe:
    kind: str
    lines: list[str]
    hyperparameters: dict[str, Any]

    @property
    def data(self) -> bytes:
        return ("\n".join(self.lines) + "\n").encode()


def recipes(
    *,
    challenge: Challenge,
    task: list[tuple[str, str]],
    general: list[str],
    common: dict[str, Any],
    careful_lr: float,
    naive_lr: float,
    rng: random.Random,
) -> dict[str, Recipe]:
    """The three reference datasets from the same task examples (see the module docstring)."""
    right = [task_chat(challenge, text, output) for text, output in task]
    outputs = [output for _, output in task]
    # A shuffle that moves every output (a cyclic shift of a shuffled order): no label stays right by chance
    # of position, though equal outputs may meet again, as in any relabelling.
    order = list(range(len(task)))
    rng.shuffle(order)
    moved = {order[i]: outputs[order[(i + 1) % len(order)]] for i in range(len(order))}
    wrong = [task_chat(challenge, text, moved[index]) for index, (text, _) in enumerate(task)]
    careful_lines = right + general
    mislabelled_lines = wrong + general
    rng.shuffle(careful_lines)
    rng.shuffle(mislabelled_lines)
    careful = {**common, "learning_rate": careful_lr, "lr_scheduler": "cosine", "warmup_ratio": 0.05}
    return {
        "careful": Recipe("careful", careful_lines, careful),
        "naive": Recipe("naive", right, {**common, "learning_rate": naive_lr}),
        "mislabelled": Recipe("mislabelled", mislabelled_lines, careful),
    }
