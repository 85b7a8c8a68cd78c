"""Demo users and data for `make run`. Safe to run again: existing demo data is left as it is."""

from datetime import timedelta

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from marketplace.models import EngineerProfile, User
from marketplace.services import conversations as conversation_services
from marketplace.services import engagements as engagement_services
from marketplace.services import requests as request_services
from marketplace.services.users import engineer_profile_update, user_sign_up

DEMO_PASSWORD = "tunehire-demo"  # noqa: S105 (printed for the demo logins; never used in production)

ENGINEERS = [
    (
        "maya",
        "Europe/London",
        ["English", "Yoruba"],
        "Maya",
        "Okafor",
        "LoRA and QLoRA for structured extraction",
        ["LoRA", "QLoRA", "JSON extraction", "Evaluation"],
        15000,
        "available",
    ),
    (
        "lin",
        "Asia/Singapore",
        ["English", "Mandarin"],
        "Lin",
        "Zhang",
        "Small-model distillation and evaluation harnesses",
        ["Distillation", "Evaluation", "RAG"],
        18000,
        "limited",
    ),
    (
        "sam",
        "America/Mexico_City",
        ["Spanish", "English"],
        "Sam",
        "Reyes",
        "Classification fine-tunes that ship",
        ["LoRA", "Classification", "Deployment"],
        11000,
        "available",
    ),
    (
        "noor",
        "Asia/Dubai",
        ["Arabic", "English", "French"],
        "Noor",
        "Haddad",
        "RAG first, fine-tune when it pays",
        ["RAG", "Prompt engineering"],
        9000,
        "unavailable",
    ),
]


class Command(BaseCommand):
    help = "Create demo users and a small marketplace to click through."

    def handle(self, *args, **options):
        call_command("vetting_seed_challenges")
        if User.objects.filter(username="client").exists():
            self.stdout.write("Demo data already present.")
        else:
            with transaction.atomic():
                self._seed()
            self.stdout.write(self.style.SUCCESS("Demo data created."))
        self._print_logins()

    def _seed(self) -> None:
        admin = User.objects.create_superuser(
            username="admin", email="admin@example.com", password=DEMO_PASSWORD, role=User.Role.CLIENT
        )
        admin.first_name = "Ada"
        admin.save(update_fields=["first_name"])
        client = user_sign_up(
            username="client",
            email="client@example.com",
            password=DEMO_PASSWORD,
            role=User.Role.CLIENT,
            first_name="Casey",
            last_name="Client",
            confirmed=True,
        )
        engineers = {}
        for username, time_zone, languages, first, last, headline, skills, rate, availability in ENGINEERS:
            engineer = user_sign_up(
                username=username,
                email=f"{username}@example.com",
                password=DEMO_PASSWORD,
                role=User.Role.ENGINEER,
                first_name=first,
                last_name=last,
                confirmed=True,
            )
            engineer_profile_update(
                actor=engineer,
                headline=headline,
                skills=skills,
                rate_amount=rate,
                availability=availability,
                bio=f"{first} has shipped fine-tuned models for support, search and routing teams.",
                rate_type=EngineerProfile.RateType.HOURLY,
                time_zone=time_zone,
                languages=languages,
                portfolio_links=[f"https://example.com/{username}/case-studies"],
            )
            engineers[username] = engineer

        today = timezone.localdate()
        readiness = {
            "tried_prompting": "yes",
            "has_enough_data": "partly",
            "has_success_metric": "yes",
            "lowers_long_term_cost": "yes",
            "deployment_ready": "no",
        }
        open_one = request_services.request_create(
            actor=client,
            title="Route support tickets with a small fine-tuned model",
            description="We get 4,000 tickets a day. We want a small model that extracts product, category, "
            "urgency and order id as JSON so we can route them without a large model.",
            budget_min=300_000,
            budget_max=800_000,
            currency="usd",
            deadline=today + timedelta(days=45),
            data_description="18 months of tickets (~200k) with agent-assigned categories; no PII after scrubbing.",
            skills=["LoRA", "JSON extraction", "Evaluation"],
            **readiness,
        )
        request_services.request_publish(actor=client, request_id=open_one.pk)
        consultation = request_services.consultation_invite(
            actor=client,
            request_id=open_one.pk,
            engineer_id=engineers["lin"].pk,
            message="Hi Lin, would you have time to look at this next week?",
        )
        conversation_services.message_post(
            actor=engineers["lin"],
            consultation_id=consultation.pk,
            body="Happy to. Could you share 50 example tickets and the label set?",
        )

        hired = request_services.request_create(
            actor=client,
            title="Classify contract clauses for legal review",
            description="A LoRA fine-tune that labels clauses with our 14-category taxonomy.",
            budget_min=500_000,
            budget_max=1_200_000,
            currency="usd",
            deadline=today + timedelta(days=60),
            data_description="6,000 labelled clauses.",
            skills=["Classification", "LoRA"],
            **readiness,
        )
        request_services.request_publish(actor=client, request_id=hired.pk)
        thread = request_services.consultation_invite(
            actor=client, request_id=hired.pk, engineer_id=engineers["maya"].pk
        )
        proposal = request_services.proposal_submit(
            actor=engineers["maya"],
            consultation_id=thread.pk,
            scope="Audit the labels, train a LoRA on SmolLM2, deliver the adapter with an eval report.",
            price=900_000,
            milestones=[
                {
                    "title": "Data audit and baseline",
                    "amount": 300_000,
                    "due_date": today + timedelta(days=14),
                },
                {
                    "title": "Fine-tune and evaluation report",
                    "amount": 600_000,
                    "due_date": today + timedelta(days=35),
                },
            ],
        )
        engagement = request_services.proposal_accept(actor=client, proposal_id=proposal.pk)
        first = engagement.milestones.order_by("position").first()
        engagement_services.milestone_mark_funded(milestone_id=first.pk, note="Demo funding.")
        engagement_services.milestone_start(actor=engineers["maya"], milestone_id=first.pk)

    def _print_logins(self) -> None:
        url = settings.SITE_URL
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Tunehire is at {url}/"))
        self.stdout.write(f"  API docs:   {url}/api/docs/")
        self.stdout.write(f"  Admin:      {url}/admin/")
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        self.stdout.write("  client  - a client with an open request and an active engagement")
        self.stdout.write("  maya    - an engineer, hired on the engagement")
        self.stdout.write("  lin     - an engineer, consulting on the open request")
        self.stdout.write("  sam     - an engineer with no work yet")
        self.stdout.write("  admin   - staff (Django admin)")
