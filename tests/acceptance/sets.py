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


# A training delivery: chat-format examples of the ticket task.
TRAINING_SET = b"".join(
    json.dumps(
        {
            "messages": [
                {"role": "user", "content": f"Ticket {index}: my card was charged twice, order {index}"},
                {"role": "assistant", "content": "billing"},
            ]
        }
    ).encode()
    + b"\n"
    for index in range(24)
)
