from django.db import models
from django_fsm import FSMField, FSMModelMixin, transition

from core.models import TimeStampedModel
from core.money import CURRENCY_CHOICES
from marketplace.models.users import Skill, User


def _is_owner(instance, user) -> bool:
    return user.pk == instance.client_id


class Readiness(models.TextChoices):
    YES = "yes", "Yes"
    PARTLY = "partly", "Partly"
    NO = "no", "No"
    UNSURE = "unsure", "Not sure"


# The five questions a good consultant asks before fine-tuning: (field, question, advice when not yes).
READINESS_QUESTIONS = [
    (
        "tried_prompting",
        "Have prompting and retrieval (RAG) been tried?",
        "prompting and RAG have not been exhausted; a consult may find fine-tuning unnecessary",
    ),
    (
        "has_enough_data",
        "Is there enough good, representative data?",
        "data may be too thin; budget time for collection or synthesis",
    ),
    (
        "has_success_metric",
        "Can success be measured objectively?",
        "no objective metric yet; agree on an evaluation set first",
    ),
    (
        "lowers_long_term_cost",
        "Will fine-tuning lower long-term cost (smaller model, shorter prompts)?",
        "the cost case is unclear; compare against a larger prompted model",
    ),
    (
        "deployment_ready",
        "Is there a place to deploy and serve the tuned model?",
        "deployment is not ready; include serving in the scope",
    ),
]


class HiringRequest(FSMModelMixin, TimeStampedModel):
    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        CONSULTING = "consulting", "Consulting"
        HIRED = "hired", "Hired"
        CLOSED = "closed", "Closed"
        WITHDRAWN = "withdrawn", "Withdrawn"

    EDITABLE_STATES = (State.DRAFT, State.OPEN, State.CONSULTING)

    client = models.ForeignKey(User, on_delete=models.PROTECT, related_name="hiring_requests")
    title = models.CharField(max_length=140)
    description = models.TextField()
    skills = models.ManyToManyField(Skill, blank=True, related_name="hiring_requests")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default="usd")
    budget_min = models.PositiveIntegerField(help_text="Minor units.")
    budget_max = models.PositiveIntegerField(help_text="Minor units.")
    deadline = models.DateField(null=True, blank=True)
    data_description = models.TextField(blank=True)
    tried_prompting = models.CharField(max_length=8, choices=Readiness.choices, default=Readiness.UNSURE)
    has_enough_data = models.CharField(max_length=8, choices=Readiness.choices, default=Readiness.UNSURE)
    has_success_metric = models.CharField(max_length=8, choices=Readiness.choices, default=Readiness.UNSURE)
    lowers_long_term_cost = models.CharField(
        max_length=8, choices=Readiness.choices, default=Readiness.UNSURE
    )
    deployment_ready = models.CharField(max_length=8, choices=Readiness.choices, default=Readiness.UNSURE)
    state = FSMField(default=State.DRAFT, choices=State.choices, protected=True, db_index=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "request"
        # A client's requests, newest first: a page is read in index order and stops at its LIMIT.
        indexes = [models.Index(fields=["client", "created_at", "id"], name="request_client_created")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(budget_min__lte=models.F("budget_max")), name="request_budget_range"
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def timeline_key(self) -> str:
        return f"request:{self.pk}"

    @transition(field=state, source=State.DRAFT, target=State.OPEN, permission=_is_owner)
    def publish(self):
        pass

    @transition(field=state, source=State.OPEN, target=State.CONSULTING)
    def start_consulting(self):
        pass

    @transition(
        field=state,
        source=[State.DRAFT, State.OPEN, State.CONSULTING],
        target=State.WITHDRAWN,
        permission=_is_owner,
    )
    def withdraw(self):
        pass

    @transition(field=state, source=[State.OPEN, State.CONSULTING], target=State.HIRED, permission=_is_owner)
    def hire(self):
        pass

    @transition(field=state, source=State.HIRED, target=State.CLOSED)
    def close(self):
        pass

    def readiness_answers(self) -> list[tuple[str, str, str]]:
        """(question, answer label, advice or "") for each readiness question."""
        answers = []
        for field, question, advice in READINESS_QUESTIONS:
            value = getattr(self, field)
            answers.append((question, Readiness(value).label, "" if value == Readiness.YES else advice))
        return answers

    @property
    def readiness_score(self) -> int:
        points = {Readiness.YES: 2, Readiness.PARTLY: 1}
        return sum(points.get(getattr(self, field), 0) for field, _, _ in READINESS_QUESTIONS)

    @property
    def readiness_summary(self) -> str:
        score = self.readiness_score
        gaps = [advice for _, _, advice in self.readiness_answers() if advice]
        if score >= 9:
            verdict = "Ready to fine-tune"
        elif score >= 5:
            verdict = "Mostly ready; a short discovery phase is advised"
        else:
            verdict = "Early stage; start with a consultation on whether to fine-tune"
        if not gaps:
            return f"{verdict} ({score}/10)."
        return f"{verdict} ({score}/10). Gaps: " + "; ".join(gaps) + "."
