"""The vetting app's side of `marketplace.verified_skills`: badges as the marketplace reads them."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from vetting.models import Badge


class BadgeSkills:
    def active(self) -> QuerySet[Badge]:
        return Badge.objects.filter(revoked_at__isnull=True)

    def active_with_relevance(self, skill_ids: list[int]) -> QuerySet[Badge]:
        proves = Badge.skills.through.objects.filter(badge_id=OuterRef("pk"), skill_id__in=skill_ids)
        return self.active().annotate(relevant=Exists(proves))

    def best_proving(self, engineer_ref, skill_ids: list[int]) -> QuerySet[Badge]:
        return self.active().filter(engineer=engineer_ref, skills__in=skill_ids).order_by("-score")

    def held_by(self, engineer_ref) -> QuerySet[Badge]:
        return self.active().filter(engineer=engineer_ref)
