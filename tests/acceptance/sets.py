"""Evaluation sets as a client uploads them, for the acceptance tests' tests."""

import json

LABELS = ("billing", "hardware", "access", "network")


def ticket_items(count: int) -> list[dict]:
    return [
        {
            "input": f"Ticket {index}: the {LABELS[index % 4]} problem on desk {index} again",
            "target": LABELS[index % 4],
        }
        for index in range(count)
    ]


def jsonl(items: list) -> bytes:
    return "".join(json.dumps(item) + "\n" for item in items).encode()
