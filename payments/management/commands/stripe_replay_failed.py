from django.core.management.base import BaseCommand

from payments.webhooks import webhook_events_replay_failed


class Command(BaseCommand):
    help = "Process failed Stripe webhook events again (oldest first) and print how each ended."

    def add_arguments(self, parser):
        parser.add_argument(
            "event_ids", nargs="*", help="Stripe event ids (evt_...); all failed events if none"
        )
        parser.add_argument("--limit", type=int, default=None, help="at most this many events")

    def handle(self, *args, event_ids, limit, **options):
        events = webhook_events_replay_failed(event_ids=event_ids or None, limit=limit)
        for event in events:
            detail = event.result if event.status != event.Status.FAILED else event.error.splitlines()[0]
            self.stdout.write(f"{event.stripe_id} {event.type}: {event.status} ({detail})")
        failed = sum(event.status == event.Status.FAILED for event in events)
        self.stdout.write(f"{len(events)} replayed, {failed} still failing.")
