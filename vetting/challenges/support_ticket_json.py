"""`support-ticket-json`: a customer message to a software company in, one JSON object out.

Labels are drawn first, then the message is composed from parts that express them, so every label is
derivable from the text by a careful reader:
- product: named by one of its phrases ("the Android app", "our Zapier connector"); none named: other.
- category: what the main sentence asks for (charged twice: billing; crashes: bug; how do I: how_to;
  locked out: account_access; cancel: cancellation; please add: feature_request).
- urgency: high only with an explicit urgency cue, low only with an explicit no-rush cue, else normal.
- refund_requested: true only when the customer asks for money back ("not asking for a refund" is false).
- order_id: the ORD-##### number in the message, or null (ticket, invoice and case numbers are not orders).
Around them: greetings, context, quoted replies, signatures, typos, case and spacing noise.
"""

from __future__ import annotations

import json
import random
from typing import Any

from vetting.challenges.base import Budgets, ChallengeSpec, Metric, PublishedPrompt

PRODUCTS = ("billing_portal", "mobile_app", "web_dashboard", "api", "integrations", "other")
CATEGORIES = ("billing", "bug", "how_to", "account_access", "cancellation", "feature_request")
URGENCIES = ("low", "normal", "high")
KEYS = ("product", "category", "urgency", "refund_requested", "order_id")

PRODUCT_PHRASES = {
    "billing_portal": [
        "billing portal",
        "billing page",
        "payment portal",
        "billing section",
        "invoices page",
    ],
    "mobile_app": ["mobile app", "iPhone app", "Android app", "iOS app", "app on my phone", "tablet app"],
    "web_dashboard": ["web dashboard", "dashboard", "web app", "analytics dashboard", "admin dashboard"],
    "api": ["API", "REST API", "orders endpoint", "public API", "GraphQL API", "webhooks API"],
    "integrations": [
        "Slack integration",
        "Salesforce sync",
        "Zapier connector",
        "HubSpot integration",
        "Jira integration",
        "Shopify plugin",
    ],
}

# {p}: a product phrase. Templates without {p} are used when no product is named (product "other").
MAIN = {
    "billing": (
        [
            "I was charged twice this month and the {p} shows both payments.",
            "The {p} shows an amount that doesn't match my plan.",
            "My card keeps getting declined in the {p} although it works everywhere else.",
            "why did my bill jump to ${amount}? the {p} doesn't explain it",
            "After downgrading I was still billed ${amount} according to the {p}.",
            "We need our VAT number on the invoices, and the {p} won't let me add it.",
            "The {p} charged us for {seats} seats but we only have {few} users.",
        ],
        [
            "I was charged twice this month.",
            "My bill went up to ${amount} and nobody told me why.",
            "You billed me ${amount} after I downgraded.",
            "We were charged for {seats} seats, we only have {few} users.",
            "There's a charge of ${amount} on my card I don't recognise from you.",
            "Our invoice total is wrong, the tax looks doubled.",
        ],
    ),
    "bug": (
        [
            "The {p} crashes every time I open the reports screen.",
            "Since the last update the {p} shows a blank page after login.",
            "The export button in the {p} does nothing at all.",
            "I keep getting error 500 from the {p} when I save changes.",
            "the {p} is showing other people's data in my list?!",
            "Dates in the {p} are off by one day for everything we created.",
            "The {p} freezes when I upload a file bigger than a few MB.",
        ],
        [
            "Something is broken: saving a record throws an error every single time.",
            "Your product keeps crashing on me since yesterday's update.",
            "Search returns nothing even for records I can see.",
            "Every page I open ends in an error 500.",
            "The numbers in my weekly report are wrong, half the entries are missing.",
        ],
    ),
    "how_to": (
        [
            "How do I export all my contacts from the {p}?",
            "Where in the {p} can I change the default currency?",
            "Is there a way to set up recurring reports in the {p}?",
            "how can I add a second admin through the {p}",
            "Can you explain how to filter by date range in the {p}?",
            "What's the right way to connect two workspaces using the {p}?",
        ],
        [
            "How do I change the email address on my account?",
            "Where can I find last year's statements?",
            "Is there a way to invite my team without paying for more seats?",
            "how do i turn off the weekly summary emails",
            "Can you tell me how to merge two duplicate records?",
        ],
    ),
    "account_access": (
        [
            "I can't log in to the {p}, it says my password is wrong even after a reset.",
            "My two-factor codes stopped working in the {p}.",
            "I'm locked out of the {p} after too many attempts.",
            "The {p} keeps logging me out every few seconds.",
            "The password reset email for the {p} never arrives.",
        ],
        [
            "I can't log into my account anymore.",
            "I lost my phone and with it my two-factor codes, now I'm locked out.",
            "My account got locked after I mistyped my password a few times.",
            "The password reset link you send has already expired when I click it.",
            "Someone changed the email on my account and I can't get in.",
        ],
    ),
    "cancellation": (
        [
            "Please cancel our subscription, we no longer use the {p}.",
            "I want to close my account; we've moved off the {p}.",
            "Stop the renewal please, the {p} isn't what we need.",
            "We're cancelling, the {p} never worked for our team.",
        ],
        [
            "Please cancel my subscription effective immediately.",
            "I want to close my account and delete my data.",
            "Don't renew our plan next month, we're done.",
            "We have decided to cancel our contract with you.",
            "Cancel my plan. I won't be needing it anymore.",
        ],
    ),
    "feature_request": (
        [
            "It would be great if the {p} had a dark mode.",
            "Please add bulk editing to the {p}.",
            "Could the {p} support exporting to Excel directly?",
            "Feature idea: let us schedule reports from the {p}.",
            "we'd love keyboard shortcuts in the {p}",
            "Any plans to add SSO login to the {p}? We'd really use it.",
        ],
        [
            "It would be great to have a dark mode.",
            "Please consider adding custom fields to records.",
            "Feature request: two-factor login with hardware keys.",
            "Could you add an option to export everything as CSV?",
            "we really need a calendar view, any chance you add one?",
        ],
    ),
}

DETAILS = {
    "billing": [
        "The second charge came two minutes after the first.",
        "Our plan is supposed to be the annual one.",
        "I checked with my bank and both charges went through.",
        "Last month the amount was fine.",
    ],
    "bug": [
        "It started after the update on Tuesday.",
        "I already tried clearing the cache and another browser.",
        "Two of my colleagues see the same thing.",
        "Screenshots attached.",
        "Steps: open it, click save, wait, nothing.",
    ],
    "how_to": [
        "I looked through the help center but couldn't find it.",
        "I'm new here so sorry if this is obvious.",
        "Our accountant is asking for it.",
    ],
    "account_access": [
        "I tried resetting my password twice already.",
        "I'm using the same email as always.",
        "I need to get in before our board meeting.",
    ],
    "cancellation": [
        "We found a tool that fits our workflow better.",
        "Budget cuts, nothing personal.",
        "Please confirm once it's done.",
    ],
    "feature_request": [
        "Our whole team has been asking for this.",
        "Other tools we use already have it.",
        "Happy to beta test it.",
    ],
}

GENERIC_CONTEXT = [
    "We've been customers for about two years.",
    "I'm the admin for a team of {few}.",
    "We run a small agency with {seats} clients.",
    "Long-time user here.",
    "First time writing in.",
    "My colleague suggested I email you directly.",
]

URGENCY_CUES = {
    "high": [
        "URGENT:",
        "This is urgent.",
        "Please help ASAP!",
        "Our whole team is blocked by this.",
        "This is costing us money every hour.",
        "We go live tomorrow and this is blocking us.",
        "Need this sorted today please!!",
        "Critical for us right now.",
    ],
    "low": [
        "No rush on this.",
        "Whenever you get a chance.",
        "Not urgent at all, just curious.",
        "Low priority, take your time.",
        "no hurry",
    ],
}

REFUND_YES = [
    "I want a refund.",
    "Please refund me.",
    "I'd like my money back.",
    "Can I get a refund for this?",
    "Please refund the ${amount}.",
    "I expect a full refund.",
    "Refund the difference please.",
]
REFUND_NO = [
    "I'm not asking for a refund, just want it fixed.",
    "No refund needed, just an explanation.",
    "I don't want my money back, I want it to work.",
]

ORDER_FORMS = [
    "My order number is {o}.",
    "Order {o}.",
    "(ref: {o})",
    "This is about order {o}.",
    "Order #: {o}",
    "P.S. the order is {o}",
]
DISTRACTOR_NUMBERS = [
    "Ticket #{n} is still open from last time.",
    "Invoice INV-{n} is the one I mean.",
    "Our account number is {n}.",
    "Case {n} was closed without an answer.",
]

GREETINGS = [
    "Hi,",
    "Hello,",
    "Hey there,",
    "Dear Support,",
    "Good morning,",
    "hi team",
    "To whom it may concern,",
    "Hello support team!",
    "Yo,",
]
CLOSERS = ["Thanks,", "Thank you!", "Cheers", "Best regards,", "Regards,", "thx", "Kind regards,"]
NAMES = ["Maria", "John D.", "Priya Patel", "Tom", "K. Nakamura", "Alex from Northwind", "Fatima", "Lars"]
SIGNATURES = ["Sent from my iPhone", "Sent from Outlook", "--\nOperations Manager", "Get Outlook for Android"]
TONES = [
    "This is really frustrating.",
    "Honestly, I'm disappointed.",
    "Thanks for your help as always!",
    "I hope you can help.",
    "Not happy about this.",
]
QUOTED = [
    "> On Mon, Support wrote:\n> Thanks for contacting us. We have received your request.",
    "-----Original Message-----\nFrom: Support\nThanks for reaching out! A team member will reply soon.",
    "> We're sorry for the trouble. Could you send us more details?",
]
EMOJIS = [" :(", " 🙏", " :/", " 😡", " !!"]


class TicketJsonMetric(Metric):
    """0 unless the output is a JSON object with exactly the five keys; else the share of fields right."""

    name = "support_ticket_json"
    summary = "the share of the five fields your JSON object gets right; 0 when the answer is not exactly one JSON object with those five keys"
    json_targets = True

    def score(self, output: str, target: Any) -> float:
        parsed = _parse_object(output)
        if parsed is None or set(parsed) != set(KEYS):
            return 0.0
        right = sum(_same(parsed[key], target[key]) for key in KEYS)
        return right / len(KEYS)

    def render(self, target: Any) -> str:
        return json.dumps({key: target[key] for key in KEYS}, ensure_ascii=False)

    def check_target(self, target: Any) -> str | None:
        return _schema_problem(target)

    def parse_output(self, text: str) -> Any | None:
        parsed = _parse_object(text)
        return parsed if parsed is not None and _schema_problem(parsed) is None else None

    def output_problem(self, text: str) -> str | None:
        parsed = _parse_object(text)
        if parsed is None:
            return "is not a JSON object"
        return _schema_problem(parsed)

    def labels(self, target: Any) -> dict[str, str]:
        return {
            "category": target["category"],
            "product": target["product"],
            "urgency": target["urgency"],
            "refund_requested": str(target["refund_requested"]).lower(),
        }

    def label_values(self) -> dict[str, tuple[str, ...]]:
        return {
            "category": CATEGORIES,
            "product": PRODUCTS,
            "urgency": URGENCIES,
            "refund_requested": ("true", "false"),
        }


def _parse_object(text: str) -> dict[str, Any] | None:
    try:
        parsed = json.loads(text.strip())
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _same(value: Any, expected: Any) -> bool:
    # type() rather than ==: True == 1 in Python, but 1 is not a JSON boolean.
    return type(value) is type(expected) and value == expected


def _schema_problem(target: Any) -> str | None:
    if not isinstance(target, dict):
        return "must be a JSON object"
    missing = [key for key in KEYS if key not in target]
    if missing:
        return "missing key " + ", ".join(repr(key) for key in missing)
    unknown = [key for key in target if key not in KEYS]
    if unknown:
        return "unknown key " + ", ".join(repr(key) for key in unknown)
    for key, allowed in (("product", PRODUCTS), ("category", CATEGORIES), ("urgency", URGENCIES)):
        if target[key] not in allowed:
            return f"{key!r} must be one of " + ", ".join(allowed)
    if type(target["refund_requested"]) is not bool:
        return "'refund_requested' must be true or false"
    order_id = target["order_id"]
    if order_id is not None and not (
        isinstance(order_id, str)
        and len(order_id) == 9
        and order_id.startswith("ORD-")
        and order_id[4:].isdigit()
    ):
        return "'order_id' must be an ORD-##### string or null"
    return None


REFUND_RATE = {"billing": 0.5, "cancellation": 0.45, "bug": 0.2, "account_access": 0.1}
ORDER_RATE = {"billing": 0.7, "cancellation": 0.6, "bug": 0.35}


def generate(rng: random.Random) -> tuple[str, dict[str, Any]]:
    category = rng.choice(CATEGORIES)
    product = rng.choice(PRODUCTS)
    urgency = rng.choices(URGENCIES, weights=(2, 5, 3))[0]
    refund = rng.random() < REFUND_RATE.get(category, 0.0)
    order_id = f"ORD-{rng.randint(10000, 99999)}" if rng.random() < ORDER_RATE.get(category, 0.25) else None
    fill = {
        "amount": f"{rng.randint(9, 899)}.{rng.choice(['00', '99', '50'])}",
        "seats": str(rng.randint(12, 60)),
        "few": str(rng.randint(3, 11)),
    }

    def fill_in(text: str, phrase: str = "") -> str:
        text = text.replace("{p}", phrase)
        for key, value in fill.items():
            text = text.replace("{" + key + "}", value)
        return text

    with_product, without_product = MAIN[category]
    if product == "other":
        main = fill_in(rng.choice(without_product))
    else:
        main = fill_in(rng.choice(with_product), rng.choice(PRODUCT_PHRASES[product]))
    body = [main]
    body += [fill_in(detail) for detail in rng.sample(DETAILS[category], k=rng.randint(0, 2))]
    if rng.random() < 0.3:
        body.insert(0, fill_in(rng.choice(GENERIC_CONTEXT)))
    if rng.random() < 0.3:
        # Before the cues go in: typos blur the wording, never a label's cue.
        body = [_typos(rng, sentence) for sentence in body]
    if refund:
        body.insert(rng.randint(1, len(body)), fill_in(rng.choice(REFUND_YES)))
    elif category in ("billing", "bug") and rng.random() < 0.15:
        body.append(rng.choice(REFUND_NO))
    if rng.random() < 0.25:
        body.append(rng.choice(DISTRACTOR_NUMBERS).replace("{n}", str(rng.randint(1000, 999999))))
    if order_id:
        body.insert(rng.randint(0, len(body)), rng.choice(ORDER_FORMS).replace("{o}", order_id))
    if rng.random() < 0.3:
        body.append(rng.choice(TONES))
    if urgency != "normal":
        cue = rng.choice(URGENCY_CUES[urgency])
        if cue.endswith(":"):
            body[0] = f"{cue} {body[0]}"
        elif rng.random() < 0.5:
            body.insert(0, cue)
        else:
            body.append(cue)

    joiner = rng.choice([" ", " ", "\n", "  "])
    text = joiner.join(body)
    if rng.random() < 0.1:
        text = text.lower().replace("ord-", "ORD-")
    if rng.random() < 0.15:
        text += rng.choice(EMOJIS)
    parts = []
    if rng.random() < 0.7:
        parts.append(rng.choice(GREETINGS))
    parts.append(text)
    if rng.random() < 0.6:
        parts.append(rng.choice(CLOSERS) + "\n" + rng.choice(NAMES))
    if rng.random() < 0.2:
        parts.append(rng.choice(SIGNATURES))
    if rng.random() < 0.15:
        parts.append(rng.choice(QUOTED))
    message = rng.choice(["\n\n", "\n", " "]).join(parts)
    target = {
        "product": product,
        "category": category,
        "urgency": urgency,
        "refund_requested": refund,
        "order_id": order_id,
    }
    return message, target


_CUE_STEMS = ("urgent", "refund", "rush", "hurry", "cancel", "critical", "block")
_PRODUCT_WORDS = frozenset(
    word.lower() for phrases in PRODUCT_PHRASES.values() for phrase in phrases for word in phrase.split()
)


def _typos(rng: random.Random, text: str) -> str:
    """Swap two inner letters in a few long words (never in order ids or the cue words)."""
    words = text.split(" ")
    for index, word in enumerate(words):
        lowered = word.lower()
        protected = lowered in _PRODUCT_WORDS or any(stem in lowered for stem in _CUE_STEMS)
        if len(word) >= 6 and word.isalpha() and not protected and rng.random() < 0.08:
            at = rng.randint(1, len(word) - 3)
            words[index] = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    return " ".join(words)


SYSTEM = (
    "You turn customer messages to a software company into one JSON object with the keys "
    '"product" (billing_portal, mobile_app, web_dashboard, api, integrations or other), '
    '"category" (billing, bug, how_to, account_access, cancellation or feature_request), '
    '"urgency" (low, normal or high), "refund_requested" (true or false) and "order_id" '
    "(the ORD- number in the message, or null). Reply with the JSON object only."
)

SPEC = ChallengeSpec(
    slug="support-ticket-json",
    title="Support ticket to JSON",
    task_type="json_extraction",
    skills=("LoRA", "JSON extraction"),
    summary="Turn a customer message into exactly one JSON object of five fields.",
    instructions="""\
The input is a customer message to a software company, as it arrives: greetings, typos, signatures,
quoted replies and all. The output is exactly one JSON object, nothing before or after it, with these
five keys:

- product: billing_portal, mobile_app, web_dashboard, api, integrations, or other when the message
  names none of them.
- category: billing, bug, how_to, account_access, cancellation or feature_request: what the customer
  wants.
- urgency: high when the customer says it is urgent or blocking, low when they say there is no rush,
  normal otherwise.
- refund_requested: true only when the customer asks for money back.
- order_id: the order number written as ORD- and five digits, or null. Ticket, invoice, case and
  account numbers are not order ids.

Scoring: an output that is not a JSON object with exactly these keys scores 0; otherwise the item
scores the share of the five fields that are right (types matter: true, not "true").
""",
    prompt=PublishedPrompt(system=SYSTEM, user_template="Customer message:\n{input}"),
    metric=TicketJsonMetric(),
    generate=generate,
    # Calibrated (vetting/calibration/results/support-ticket-json.json): careful references 0.646-0.656
    # keeping general ability (change lower bounds -0.0375 to -0.0625), naive 0.722-0.764 losing it
    # (-0.325 to -0.5125), mislabelled 0.342; README "Calibrating pass marks".
    pass_threshold=0.58,
    forgetting_margin=0.093,
    band_strong=0.88,
    band_exceptional=0.94,
    max_new_tokens=96,
    budgets=Budgets(max_tokens_per_example=512),
)
