"""The general ("forgetting") set: very easy questions with exact answers that the base model gets right.

Scored before and after tuning; the ratio shows how much general ability the tuning cost. The items
are asked as a bare user turn (no system message: the model's own default applies), as a user of the
tuned model would ask them. An answer counts when it appears as a whole word among the first words of
the output, so "Paris", "The capital of France is Paris." both count while a reply in the task's JSON
format does not.

Every question in the pools below was answered right by SmolLM2-135M-Instruct (greedy, float32). The
kinds it answers unreliably were measured and left out, because an item the base model gets right by
luck flips under any perturbation and would read as forgetting: one-digit sums (70% right: "2 + 5 =
8"), "what number comes after n" (21%), days of the week (14%), colours (20%), counts and trivia
(40-67%). A version holds GENERAL_SIZE questions drawn from the pools with a seeded generator.
"""

from __future__ import annotations

import random
from typing import Any

from vetting.challenges.base import Metric
from vetting.text import words

FIRST_WORDS = 16
# Enough for a short answer; the metric only reads the first words.
GENERAL_MAX_NEW_TOKENS = 24

REPEAT_WORDS = [
    "banana", "window", "river", "pencil", "garden", "rocket", "castle", "orange", "guitar", "butterfly",
    "mountain", "blanket", "dragon", "pillow", "candle", "tiger", "planet", "bridge", "violin", "forest",
    "apple", "table", "chair", "cloud", "island", "kettle", "lemon", "marble", "needle", "ocean", "pepper",
    "rabbit", "saddle", "turtle", "umbrella", "valley", "wagon", "yellow", "zebra", "anchor", "basket",
    "carrot", "desert", "engine", "feather", "giraffe", "hammer", "iceberg", "jungle", "lantern", "mirror",
    "pirate", "rainbow", "spider", "tomato", "violet", "walnut", "yogurt", "acorn", "bottle", "cactus",
    "dolphin", "eagle", "falcon", "glacier", "harbor", "jelly", "koala", "ladder", "meadow", "noodle",
    "owl", "parrot", "robot", "sunset", "tunnel", "village",
]  # fmt: skip
CAPITALS = {
    "France": "Paris", "Japan": "Tokyo", "Italy": "Rome", "Germany": "Berlin", "Spain": "Madrid",
    "England": "London", "Russia": "Moscow", "China": "Beijing", "Egypt": "Cairo", "Greece": "Athens",
    "Portugal": "Lisbon", "Ireland": "Dublin", "Austria": "Vienna", "Norway": "Oslo", "Sweden": "Stockholm",
    "Finland": "Helsinki", "Hungary": "Budapest", "Thailand": "Bangkok", "South Korea": "Seoul",
    "Kenya": "Nairobi", "Argentina": "Buenos Aires", "Peru": "Lima", "Cuba": "Havana", "Belgium": "Brussels",
    "the Netherlands": "Amsterdam", "Czechia": "Prague", "Iran": "Tehran", "Indonesia": "Jakarta",
    "the Philippines": "Manila", "Vietnam": "Hanoi", "Chile": "Santiago", "Mexico": "Mexico City",
    "Canada": "Ottawa", "Australia": "Canberra", "Scotland": "Edinburgh",
}  # fmt: skip
OPPOSITES = {
    "hot": ["cold"], "up": ["down"], "day": ["night"], "fast": ["slow"], "happy": ["sad", "unhappy"],
    "open": ["closed", "close", "shut"], "big": ["small", "little"], "wet": ["dry"],
    "light": ["dark", "heavy", "darkness"], "left": ["right"], "tall": ["short"], "old": ["new", "young"],
    "hard": ["soft", "easy"], "rich": ["poor"], "early": ["late"], "strong": ["weak"], "win": ["lose"],
    "true": ["false"], "black": ["white"], "good": ["bad", "evil"], "love": ["hate"], "push": ["pull"],
    "buy": ["sell"], "north": ["south"], "east": ["west"], "yes": ["no"], "start": ["end", "finish", "stop"],
    "first": ["last"], "above": ["below"], "inside": ["outside"], "front": ["back"], "near": ["far"],
    "thick": ["thin"], "loud": ["quiet", "soft"], "sweet": ["sour", "bitter", "salty"],
    "friend": ["enemy", "foe"], "summer": ["winter"], "alive": ["dead"],
}  # fmt: skip
LANGUAGES = {
    "France": ["French"], "Spain": ["Spanish"], "Germany": ["German"], "Italy": ["Italian"],
    "Japan": ["Japanese"], "China": ["Chinese", "Mandarin"], "Russia": ["Russian"], "Portugal": ["Portuguese"],
    "Greece": ["Greek"], "Sweden": ["Swedish"], "Poland": ["Polish"], "Turkey": ["Turkish"],
    "Brazil": ["Portuguese"], "Mexico": ["Spanish"], "Norway": ["Norwegian"], "Finland": ["Finnish"],
    "Korea": ["Korean"], "Egypt": ["Arabic"], "Argentina": ["Spanish"], "Austria": ["German"],
    "England": ["English"], "Hungary": ["Hungarian"],
}  # fmt: skip
PLURALS = {
    "cat": "cats", "dog": "dogs", "book": "books", "tree": "trees", "car": "cars", "house": "houses",
    "bird": "birds", "star": "stars", "child": "children", "mouse": "mice", "foot": "feet", "tooth": "teeth",
    "box": "boxes", "girl": "girls", "boy": "boys", "hat": "hats", "apple": "apples", "chair": "chairs",
    "window": "windows", "bag": "bags", "ship": "ships", "man": "men", "key": "keys", "egg": "eggs",
    "rock": "rocks",
}  # fmt: skip


def _questions(rng: random.Random) -> dict[str, list[tuple[str, list[str]]]]:
    """Every question of each kind, in a seeded order."""
    kinds: dict[str, list[tuple[str, list[str]]]] = {
        "repeat": [(f"Repeat the word '{word}' exactly.", [word]) for word in REPEAT_WORDS],
        "capital": [
            (f"What is the capital of {country}? Answer with one word.", [city])
            for country, city in CAPITALS.items()
        ],
        "opposite": [
            (f"What is the opposite of '{word}'? Answer with one word.", answers)
            for word, answers in OPPOSITES.items()
        ],
        "language": [
            (f"What language is mainly spoken in {country}? Answer with one word.", answers)
            for country, answers in LANGUAGES.items()
        ],
        "plural": [
            (f"What is the plural of '{word}'? Answer with one word.", [plural])
            for word, plural in PLURALS.items()
        ],
    }
    for questions in kinds.values():
        rng.shuffle(questions)
    return kinds


# How many of each kind a general set holds.
QUOTAS = {"repeat": 20, "capital": 18, "opposite": 16, "language": 12, "plural": 14}
GENERAL_SIZE = sum(QUOTAS.values())


def generate_general(rng: random.Random, count: int = GENERAL_SIZE) -> list[tuple[str, dict[str, Any]]]:
    """`count` distinct (question, target) pairs, in proportion to QUOTAS, in a seeded order."""
    kinds = _questions(rng)
    takes = {
        kind: min(len(kinds[kind]), round(quota * count / GENERAL_SIZE)) for kind, quota in QUOTAS.items()
    }
    picked = [(q, {"answers": a}) for kind, take in takes.items() for q, a in kinds[kind][:take]]
    rest = [(q, {"answers": a}) for kind, take in takes.items() for q, a in kinds[kind][take:]]
    rng.shuffle(rest)
    picked = (picked + rest)[:count]
    if len(picked) < count:
        raise ValueError(f"the general pools hold {len(picked)} questions, fewer than {count}")
    rng.shuffle(picked)
    return picked


class GeneralMetric(Metric):
    """1 when one of the answers is a whole word among the output's first words (case-insensitive)."""

    name = "general_answer"

    def score(self, output: str, target: Any) -> float:
        first = words(output)[:FIRST_WORDS]
        for answer in target["answers"]:
            answer_words = words(answer)
            span = len(answer_words)
            if any(first[i : i + span] == answer_words for i in range(len(first) - span + 1)):
                return 1.0
        return 0.0

    def render(self, target: Any) -> str:
        return target["answers"][0]

    def check_target(self, target: Any) -> str | None:
        answers = target.get("answers") if isinstance(target, dict) else None
        if (
            not isinstance(target, dict)
            or set(target) != {"answers"}
            or not isinstance(answers, list)
            or not answers
            or not all(isinstance(answer, str) and words(answer) for answer in answers)
        ):
            return 'must be an object {"answers": [one or more non-empty strings]}'
        return None

    def parse_output(self, text: str) -> Any | None:
        return {"answers": [text.strip()]} if text.strip() else None

    def output_problem(self, text: str) -> str | None:
        return None if text.strip() else "is empty"

    def labels(self, target: Any) -> dict[str, str]:
        return {}


GENERAL_METRIC = GeneralMetric()
