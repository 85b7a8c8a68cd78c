"""Every read in the marketplace, and who may see what.

Visibility rules: a client sees their own requests, consultations and engagements; an engineer sees
their own consultation threads and engagements, plus the open requests they are invited to; staff see
everything. Anything outside those sets does not exist for the user (404, never 403).
"""

import sys
from collections.abc import Callable
from functools import cache
from types import SimpleNamespace

from django.db import connections
from django.db.models import (
    CharField,
    Count,
    Expression,
    F,
    Func,
    IntegerField,
    JSONField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, JSONObject

from core.errors import NotFoundError, PermissionDeniedError
from core.models import TransitionLog
from marketplace.models import (
    Consultation,
    Delivery,
    DeliveryAttachment,
    Engagement,
    EngineerProfile,
    HiringRequest,
    Message,
    Milestone,
    Notification,
    Proposal,
    Review,
    Skill,
    User,
)
from marketplace.verified_skills import active_badges_prefetch


def _get_or_404(queryset: QuerySet, pk, label: str):
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise NotFoundError(f"{label} not found.")
    return obj


def _role(user: User) -> str:
    """Which visibility rule applies to the user (the branches of the _visible_* functions)."""
    return "staff" if user.is_staff else "client" if user.is_client else "engineer"


# --- Prepared reads ---------------------------------------------------------------------------------
# The busiest API reads (the request list, matching, the engagement detail) run querysets compiled once.


class Param(Expression):
    """A named parameter of a PreparedQuery: a placeholder in its SQL, given a value on each run."""

    def __init__(self, name: str, output_field=None):
        super().__init__(output_field=output_field or IntegerField())
        self.name = name

    def as_sql(self, compiler, connection):
        return "%s", [self]


class Row(SimpleNamespace):
    """A result row whose columns read as attributes, the way the output serializers read models."""

    @property
    def pk(self):
        return self.id


def _row(pairs) -> Row:
    row = Row()
    row.__dict__.update(pairs)
    return row


class PreparedQuery:
    """A `values()` queryset compiled to SQL once per process, then run with new parameters (Param).

    Django compiles a queryset afresh each time it runs it; for the small reads behind the busiest
    endpoints that costs several times what running them does. The queryset stays the one definition of
    the query, and its rows come back converted as its own values() would convert them. The columns of a
    relation (`client__username`) come as a Row of their own (`row.client.username`), None when its `id`
    is; for the relations named in `users`, with the user's display_name made as User.display_name
    makes it (the full name, or the username)."""

    def __init__(self, build: Callable[[], QuerySet], *, users: tuple[str, ...] = ()):
        self.build, self.users = build, users
        self.compiled: dict[str, tuple] = {}

    def _compile(self, alias: str) -> tuple:
        query = self.build().query
        compiler = query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        names = [*query.extra_select, *query.values_select, *query.annotation_select]
        converters = compiler.get_converters([expression for expression, _, _ in compiler.select])
        columns, relations = ([], []), {}
        for position, name in enumerate(names):
            relation, _, column = name.partition("__")
            if column:
                nested = relations.setdefault(relation, ([], []))
            else:
                nested, column = columns, name
            nested[0].append(column)
            nested[1].append(position)
        return sql, params, converters, columns, list(relations.items())

    def rows(self, *, limit: int | None = None, offset: int = 0, **values) -> list[Row]:
        alias = "default"  # The one database; a router would have to choose here.
        if alias not in self.compiled:
            self.compiled[alias] = self._compile(alias)
        sql, params, converters, (names, positions), relations = self.compiled[alias]
        args = [values[param.name] if isinstance(param, Param) else param for param in params]
        if limit is not None:
            # Numbers in the text, not parameters: PostgreSQL plans a prepared statement once only when
            # its generic plan is as good as one made for the values, and an unknown LIMIT never is.
            sql = f"{sql} LIMIT {int(limit)} OFFSET {int(offset)}"
        connection = connections[alias]
        with _cursor(connection) as cursor:
            cursor.execute(sql, args)
            fetched = cursor.fetchall()
        rows = []
        for found in fetched:
            if converters:
                found = list(found)
                for position, (functions, expression) in converters.items():
                    for function in functions:
                        found[position] = function(found[position], expression, connection)
            row = _row(zip(names, map(found.__getitem__, positions), strict=True))
            for relation, (related_names, related_positions) in relations:
                related = _row(zip(related_names, map(found.__getitem__, related_positions), strict=True))
                if related.id is None:
                    related = None
                elif relation in self.users:
                    related.display_name = (
                        f"{related.first_name} {related.last_name}".strip() or related.username
                    )
                setattr(row, relation, related)
            rows.append(row)
        return rows


def _cursor(connection):
    """A cursor through Django's wrappers (query logging, execute wrappers). On PostgreSQL it binds
    parameters on the server and prepares each statement, so that PostgreSQL parses and plans the few
    statements of a PreparedQuery once per connection instead of on every run. (Django's own cursors
    bind on the client and prepare nothing: prepared statements do not survive a connection pooler in
    transaction mode, such as PgBouncer before 1.21. Other queries stay as they were: the threshold set
    here keeps psycopg from preparing any statement it is not told to.)"""
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    if connection.connection.prepare_threshold is None:
        connection.connection.prepare_threshold = sys.maxsize
    cursor = _preparing_cursor_class()(connection.connection)
    return (
        connection.make_debug_cursor(cursor) if connection.queries_logged else connection.make_cursor(cursor)
    )


@cache
def _preparing_cursor_class() -> type:
    from django.db.backends.postgresql.base import ServerBindingCursor
    from psycopg.types.datetime import TimestamptzLoader

    class PreparingCursor(ServerBindingCursor):
        def __init__(self, connection, **options):
            super().__init__(connection, **options)
            # psycopg's own loader, which runs in C (Django's subclass of it does not): times come in the
            # session's time zone, which Django sets to UTC, and are rendered in the current one anyway.
            self.adapters.register_loader("timestamptz", TimestamptzLoader)

        def execute(self, query, params=None, **options):
            return super().execute(query, params, prepare=True, **options)

    return PreparingCursor


class RowList:
    """What a paginator pages through: the rows of a prepared query, counted and sliced in the database.

    Each row carries the count of them all (`total`, computed once per query), so that a paginator that
    fetches its page first (api.views.base.RowPagination) needs no query of its own to count them."""

    def __init__(self, rows: PreparedQuery, count: PreparedQuery, **values):
        self._rows, self._count, self._values = rows, count, values
        self._total, self._fetched = None, None

    def fetch(self, offset: int, limit: int) -> None:
        rows = self._rows.rows(limit=limit, offset=offset, **self._values)
        self._fetched = (offset, rows)
        if rows:
            self._total = rows[0].total

    def count(self) -> int:
        if self._total is None:
            self._total = self._count.rows(**self._values)[0].count
        return self._total

    def __getitem__(self, index: slice) -> list[Row]:
        if self._fetched is not None:
            offset, rows = self._fetched
            if index.start == offset and index.stop - index.start <= len(rows):
                return rows[: index.stop - index.start]
        return self._rows.rows(limit=index.stop - index.start, offset=index.start, **self._values)


def _one(query: PreparedQuery, label: str, **values) -> Row:
    rows = query.rows(**values)
    if not rows:
        raise NotFoundError(f"{label} not found.")
    return rows[0]


def _user_columns(relation: str) -> list[str]:
    return [f"{relation}__{name}" for name in ("id", "username", "first_name", "last_name")]


def _count_of(queryset: QuerySet) -> QuerySet:
    return queryset.order_by().values(count=Func(template="COUNT(*)", output_field=IntegerField()))


# --- Requests ---------------------------------------------------------------------------------------


def _visible_requests(role: str, user_id) -> QuerySet[HiringRequest]:
    if role == "staff":
        return HiringRequest.objects.all()
    if role == "client":
        return HiringRequest.objects.filter(client_id=user_id)
    return HiringRequest.objects.filter(
        pk__in=Consultation.objects.filter(engineer_id=user_id).values("request_id")
    )


def _count(queryset: QuerySet) -> Coalesce:
    """COUNT(*) of `queryset` as a correlated subquery: computed for the rows a page shows, after LIMIT,
    and left out of the paginator's COUNT(*), unlike a JOIN with GROUP BY over every visible row."""
    counted = queryset.order_by().annotate(count=Func(Value(1), function="COUNT")).values("count")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


class _ListField(JSONField):
    """A list: a JSON array from SQLite, an array that psycopg has made a list already from PostgreSQL."""

    def from_db_value(self, value, expression, connection):
        return value if isinstance(value, list) else super().from_db_value(value, expression, connection)


class ListOf(Subquery):
    """The one column (`item`) of a subquery's rows, in its order, as a list: a column of the outer query
    in place of a query of its own (and of the related manager Django builds for each row it prefetches
    into). Items made with JSONObject come as dicts: say `objects=True`."""

    output_field = _ListField()

    def __init__(self, queryset, *, objects: bool = False):
        super().__init__(queryset)
        self.objects = objects

    def as_sqlite(self, compiler, connection, **extra):
        if self.objects:  # JSON made in a subquery comes out of it as text: json() reads it again.
            template = "(SELECT json_group_array(json(item)) FROM (%(subquery)s))"
        else:
            template = "(SELECT json_group_array(item) FROM (%(subquery)s))"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_postgresql(self, compiler, connection, **extra):
        template = "to_jsonb(ARRAY(%(subquery)s))" if self.objects else "ARRAY(%(subquery)s)"
        return self.as_sql(compiler, connection, template=template, **extra)


def _skill_names(through) -> ListOf:
    """The names of the skills linked to the outer row through `through`, by name (as `skills.all()`)."""
    field = next(f for f in through._meta.get_fields() if f.many_to_one and f.related_model is not Skill)
    links = through.objects.filter(**{field.attname: OuterRef("pk")}).order_by("skill__name")
    return ListOf(links.values(item=F("skill__name")))


def _requests(user: User, state: str | None) -> QuerySet[HiringRequest]:
    queryset = _visible_requests(_role(user), user.pk)
    if state:
        queryset = queryset.filter(state=state)
    return queryset.order_by("-created_at", "-id")


def request_list(*, user: User, state: str | None = None) -> QuerySet[HiringRequest]:
    """What the list pages show: whole requests, their skills and how many consultations each has."""
    return (
        _requests(user, state)
        .select_related("client")
        .prefetch_related("skills")
        .annotate(consultation_count=_count(Consultation.objects.filter(request=OuterRef("pk"))))
    )


def _summaries(role: str, by_state: bool) -> tuple[PreparedQuery, PreparedQuery]:
    def visible() -> QuerySet[HiringRequest]:
        queryset = _visible_requests(role, Param("user"))
        return queryset.filter(state=Param("state", CharField())) if by_state else queryset

    columns = ["id", "title", "state", "currency", "budget_min", "budget_max", "deadline", "created_at"]
    rows = PreparedQuery(
        lambda: (
            visible()
            .order_by("-created_at", "-id")
            .values(*columns, "published_at", *_user_columns("client"))
            .annotate(
                skill_names=_skill_names(HiringRequest.skills.through),
                total=Subquery(_count_of(visible())),
            )
        ),
        users=("client",),
    )
    return rows, PreparedQuery(lambda: _count_of(visible()))


_SUMMARIES = {
    (role, by_state): _summaries(role, by_state)
    for role in ("staff", "client", "engineer")
    for by_state in (False, True)
}


def request_summaries(*, user: User, state: str | None = None) -> RowList:
    """What the API's request list shows, and only that, newest first: the columns it renders, the
    client in brief, and the skills' names as one column (`skill_names`)."""
    rows, count = _SUMMARIES[_role(user), bool(state)]
    return RowList(rows, count, user=user.pk, state=state)


def request_get(*, user: User, request_id: int) -> HiringRequest:
    queryset = request_list(user=user).prefetch_related(
        Prefetch("consultations", queryset=Consultation.objects.select_related("engineer").order_by("pk"))
    )
    return _get_or_404(queryset, request_id, "Request")


def _for_matching(role: str) -> PreparedQuery:
    links = HiringRequest.skills.through.objects.filter(hiringrequest_id=OuterRef("pk")).order_by("skill_id")
    invited = Consultation.objects.filter(request_id=OuterRef("pk")).order_by("engineer_id")
    return PreparedQuery(
        lambda: (
            _visible_requests(role, Param("user"))
            .filter(pk=Param("request"))
            .values(
                "id",
                "client_id",
                skill_ids=ListOf(links.values(item=F("skill_id"))),
                invited_ids=ListOf(invited.values(item=F("engineer_id"))),
            )
        )
    )


_FOR_MATCHING = {role: _for_matching(role) for role in ("staff", "client", "engineer")}


def request_for_matching(*, user: User, request_id: int) -> Row:
    """The request whose matches its client asks for (others who see the request get 403), with the
    inputs of its ranking, in one query: `skill_ids` and the engineers already invited (`invited_ids`)."""
    hiring_request = _one(_FOR_MATCHING[_role(user)], "Request", user=user.pk, request=request_id)
    if hiring_request.client_id != user.pk:
        raise PermissionDeniedError("Only the request's client sees its matches.")
    return hiring_request


# --- Consultations ----------------------------------------------------------------------------------


def consultation_list(*, user: User, request_id: int | None = None) -> QuerySet[Consultation]:
    if user.is_staff:
        queryset = Consultation.objects.all()
    else:
        queryset = Consultation.objects.filter(Q(engineer=user) | Q(request__client=user))
    if request_id is not None:
        queryset = queryset.filter(request_id=request_id)
    return (
        queryset.select_related("request", "request__client", "engineer")
        .annotate(message_count=Count("messages", distinct=True))
        .order_by("-updated_at", "-id")
    )


def consultation_get(*, user: User, consultation_id: int) -> Consultation:
    queryset = consultation_list(user=user).prefetch_related(
        Prefetch("messages", queryset=Message.objects.select_related("author")),
        Prefetch("proposals", queryset=Proposal.objects.prefetch_related("milestones")),
    )
    return _get_or_404(queryset, consultation_id, "Consultation")


def proposal_get(*, user: User, proposal_id: int) -> Proposal:
    visible = consultation_list(user=user).values("pk")
    queryset = (
        Proposal.objects.filter(consultation__in=visible)
        .select_related("consultation", "consultation__request")
        .prefetch_related("milestones")
    )
    return _get_or_404(queryset, proposal_id, "Proposal")


# --- Engagements ------------------------------------------------------------------------------------


def _visible_engagements(role: str, user_id) -> QuerySet[Engagement]:
    if role == "staff":
        return Engagement.objects.all()
    return Engagement.objects.filter(Q(client_id=user_id) | Q(engineer_id=user_id))


def engagement_list(*, user: User) -> QuerySet[Engagement]:
    return (
        _visible_engagements(_role(user), user.pk)
        .select_related("client", "engineer", "request")
        .prefetch_related(Prefetch("milestones", queryset=Milestone.objects.order_by("position")))
        .order_by("-created_at", "-id")
    )


def engagement_get(*, user: User, engagement_id: int) -> Engagement:
    queryset = (
        engagement_list(user=user)
        .select_related("review")
        .prefetch_related(
            Prefetch(
                "milestones__deliveries",
                queryset=Delivery.objects.select_related("author").prefetch_related("attachments"),
            )
        )
    )
    return _get_or_404(queryset, engagement_id, "Engagement")


def _engagement_detail(role: str) -> tuple[PreparedQuery, ...]:
    engagement = Param("engagement")
    attachments = DeliveryAttachment.objects.filter(delivery_id=OuterRef("pk")).order_by("id")
    file = JSONObject(id="id", original_name="original_name", size="size", content_type="content_type")
    columns = ["id", "title", "state", "request_id", "consultation_id", "proposal_id", "currency", "total"]
    return (
        PreparedQuery(
            lambda: (
                _visible_engagements(role, Param("user"))
                .filter(pk=engagement)
                .values(
                    *columns,
                    "created_at",
                    "completed_at",
                    *_user_columns("client"),
                    *_user_columns("engineer"),
                    *(f"review__{name}" for name in ("id", "rating", "text", "created_at")),
                )
            ),
            users=("client", "engineer"),
        ),
        PreparedQuery(
            lambda: (
                Milestone.objects.filter(engagement_id=engagement)
                .order_by("position")
                .values(
                    *("id", "position", "title", "amount", "currency", "due_date", "state", "funded_at"),
                    *("submitted_at", "auto_approve_at", "approved_at", "revision_count"),
                )
            )
        ),
        PreparedQuery(  # In Delivery's own order, newest first.
            lambda: Delivery.objects.filter(milestone__engagement_id=engagement).values(
                *("id", "milestone_id", "message", "links", "review", "review_comment", "reviewed_at"),
                "created_at",
                *_user_columns("author"),
                files=ListOf(attachments.values(item=file), objects=True),
            ),
            users=("author",),
        ),
    )


_ENGAGEMENT_DETAIL = {role: _engagement_detail(role) for role in ("staff", "client", "engineer")}


def engagement_detail(*, user: User, engagement_id: int) -> Row:
    """What the API's engagement detail renders, and only that: the engagement with the parties in
    brief and its review, its milestones, their deliveries with the authors in brief and the attachments;
    three prepared queries, or fewer when there is nothing further down."""
    query, milestones, deliveries = _ENGAGEMENT_DETAIL[_role(user)]
    engagement = _one(query, "Engagement", user=user.pk, engagement=engagement_id)
    engagement.milestones = milestones.rows(engagement=engagement_id)
    by_milestone = {milestone.pk: milestone for milestone in engagement.milestones}
    for milestone in engagement.milestones:
        milestone.deliveries = []
    for delivery in deliveries.rows(engagement=engagement_id) if engagement.milestones else []:
        delivery.attachments = [_row(file.items()) for file in delivery.files]
        del delivery.files
        by_milestone[delivery.milestone_id].deliveries.append(delivery)
    return engagement


def milestone_get(*, user: User, milestone_id: int) -> Milestone:
    visible = engagement_list(user=user).values("pk")
    queryset = Milestone.objects.filter(engagement__in=visible).select_related("engagement")
    return _get_or_404(queryset, milestone_id, "Milestone")


def delivery_attachment_get(*, user: User, attachment_id: int):
    visible = engagement_list(user=user).values("pk")
    queryset = DeliveryAttachment.objects.filter(delivery__milestone__engagement__in=visible)
    return _get_or_404(queryset, attachment_id, "Attachment")


def engagement_timeline(*, engagement: Engagement) -> QuerySet[TransitionLog]:
    """The engagement's own transitions and its milestones', oldest first."""
    return TransitionLog.objects.filter(timeline_key=engagement.timeline_key).select_related(
        "actor", "content_type"
    )


def request_timeline(*, hiring_request: HiringRequest) -> QuerySet[TransitionLog]:
    return TransitionLog.objects.filter(timeline_key=hiring_request.timeline_key).select_related(
        "actor", "content_type"
    )


# --- Engineers --------------------------------------------------------------------------------------


def engineer_list(*, skill: str | None = None) -> QuerySet[EngineerProfile]:
    queryset = EngineerProfile.objects.filter(user__is_active=True, user__role=User.Role.ENGINEER)
    if skill:
        queryset = queryset.filter(skills__slug=skill)
    return (
        queryset.select_related("user")
        .prefetch_related("skills", active_badges_prefetch())
        .order_by("-rating_sum", "user__username")
    )


def engineer_get(*, username: str) -> EngineerProfile:
    profile = (
        engineer_list()
        .prefetch_related(
            Prefetch(
                "user__reviews_received",
                queryset=Review.objects.select_related("client", "engagement"),
                to_attr="recent_reviews",
            )
        )
        .filter(user__username=username)
        .first()
    )
    if profile is None:
        raise NotFoundError("Engineer not found.")
    return profile


def skill_list() -> QuerySet[Skill]:
    return Skill.objects.order_by("name")


# --- Notifications ----------------------------------------------------------------------------------


def notification_list(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user).order_by("-created_at", "-id")


def notification_unread_count(*, user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
