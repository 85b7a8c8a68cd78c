"""Settings: one module, read from environment variables, with embedded defaults.

With nothing set, everything runs on one machine with no external service: SQLite, a
file-system Celery broker, the local Stripe-compatible server. `DJANGO_ENV=production`
switches to production mode, which refuses to start without its required variables.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"

PRODUCTION_REQUIRED = (
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_PUBLISHABLE_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "DEFAULT_FROM_EMAIL",
    "EMAIL_URL",
    "CACHE_URL",
    "VETTING_SECRET_SEED",
)
# The development values below: anyone can read them here, so production refuses them.
DEVELOPMENT_VALUES = {
    "SECRET_KEY": "dev-only-insecure-key-never-use-in-production",
    "STRIPE_WEBHOOK_SECRET": "whsec_local",
    "VETTING_SECRET_SEED": "dev-only-vetting-seed-never-use-in-production",
}
if PRODUCTION:
    missing = [name for name in PRODUCTION_REQUIRED if not env.str(name, default="")]
    if missing:
        raise ImproperlyConfigured(
            "DJANGO_ENV=production needs these environment variables: " + ", ".join(missing)
        )
    public = [name for name, value in DEVELOPMENT_VALUES.items() if env.str(name, default="") == value]
    if public:
        raise ImproperlyConfigured(
            "DJANGO_ENV=production refuses the development values of "
            + ", ".join(public)
            + ": they are public in the repository; set secrets of your own."
        )

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
if PRODUCTION and DEBUG:
    # The debug error page prints local variables and settings: never where engineers can reach it.
    raise ImproperlyConfigured("DJANGO_ENV=production refuses DEBUG=true: unset DEBUG.")
SECRET_KEY = env.str("SECRET_KEY", default=DEVELOPMENT_VALUES["SECRET_KEY"])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "core",
    "marketplace",
    "payments",
    "vetting",
    "sandbox",
    "acceptance",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Errors under /api/ are JSON in the one error shape, whoever answered them (core/middleware.py).
    "core.middleware.ApiErrorMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "marketplace.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so that the live server, the Celery worker and the tests share it.
    DATABASES["default"]["TEST"] = {
        "NAME": env.str("SQLITE_TEST_NAME", default=str(VAR_DIR / "test.sqlite3"))
    }
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

AUTH_USER_MODEL = "marketplace.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "home"

# Login rate limiting: after AXES_FAILURE_LIMIT failures for one username from one address,
# that pair is locked out for AXES_COOLOFF_TIME.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = env.int("PROXY_COUNT", default=0)

# API tokens (django-rest-knox): one per log-in, stored hashed, valid for API_TOKEN_TTL_HOURS; rotated
# with /api/v1/auth/token/refresh/, revoked with /auth/logout/ (this one) or /auth/logout-all/ (every
# one), and all of a user's tokens die when their password changes. A user keeps at most
# API_TOKENS_PER_USER: a new log-in beyond that revokes the oldest.
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env.int("API_TOKEN_TTL_HOURS", default=24 * 7)),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}
API_TOKENS_PER_USER = env.int("API_TOKENS_PER_USER", default=10)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(BASE_DIR / "media"))

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Tunehire <no-reply@localhost>")

# Security. Production mode turns everything on; `manage.py check --deploy` passes clean.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# API
REST_FRAMEWORK = {
    # Token first: DRF answers an anonymous request with the first class's WWW-Authenticate
    # challenge, which makes it a 401; SessionAuthentication has none and would make it a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "core.api.ApiAutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    # JSON only: the interactive documentation is Swagger UI at /api/docs/.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON bodies through the one bounded reader of user JSON (core.jsonsafe).
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tunehire API",
    "DESCRIPTION": "Hire vetted engineers who fine-tune LLMs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a `state`, and five readiness answers share one choice set: name each once.
    "ENUM_NAME_OVERRIDES": {
        "RequestStateEnum": "marketplace.models.HiringRequest.State",
        "ConsultationStateEnum": "marketplace.models.Consultation.State",
        "ProposalStateEnum": "marketplace.models.Proposal.State",
        "EngagementStateEnum": "marketplace.models.Engagement.State",
        "MilestoneStateEnum": "marketplace.models.Milestone.State",
        "ReadinessEnum": "marketplace.models.Readiness",
        "JobStateEnum": "sandbox.models.Job.State",
    },
}

# Celery: a file-system broker by default, so `make run` needs no broker service.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    # Producers and the worker both need the folders; creating them here covers every entry point.
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
else:
    # Above the longest sandbox wall limit, so a long job is never redelivered while it runs.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 6 * 3600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "milestones-auto-approve": {
        "task": "marketplace.tasks.milestones_auto_approve",
        "schedule": timedelta(seconds=env.int("AUTO_APPROVE_SWEEP_SECONDS", default=900)),
    },
    "conversations-notify-unread": {
        "task": "marketplace.tasks.conversations_notify_unread",
        "schedule": timedelta(seconds=60),
    },
    "reviews-publish-due": {
        "task": "marketplace.tasks.reviews_publish_due",
        "schedule": timedelta(hours=1),
    },
}

# Sandbox: isolated fine-tuning jobs on the gpu queue.
# Jobs' folders (one per job and attempt: spec.json + the only writable output folder).
SANDBOX_ROOT = env.path("SANDBOX_ROOT", default=str(VAR_DIR / "sandbox"))
# Without bubblewrap, jobs are refused unless this is true (then every run logs a loud warning).
SANDBOX_ALLOW_UNISOLATED = env.bool("SANDBOX_ALLOW_UNISOLATED", default=False)
# The device this gpu worker owns ("cpu" or "cuda:N"); run one worker per GPU, each with its own.
SANDBOX_DEVICE = env.str("SANDBOX_DEVICE", default="cpu")
# OMP/MKL threads inside the sandbox; 0 means every CPU the worker may use.
SANDBOX_CPU_THREADS = env.int("SANDBOX_CPU_THREADS", default=0)
SANDBOX_DEFAULT_WALL_SECONDS = env.int("SANDBOX_DEFAULT_WALL_SECONDS", default=3600)
# Must stay below the broker's visibility timeout (6 h), or a running job would be redelivered.
SANDBOX_MAX_WALL_SECONDS = env.int("SANDBOX_MAX_WALL_SECONDS", default=5 * 3600)
SANDBOX_DEFAULT_MEMORY_MB = env.int("SANDBOX_DEFAULT_MEMORY_MB", default=8192)
SANDBOX_DEFAULT_OUTPUT_MB = env.int("SANDBOX_DEFAULT_OUTPUT_MB", default=1024)
# Processes and threads a job may have at once (a pids cgroup enforces it where the host has one).
SANDBOX_MAX_TASKS = env.int("SANDBOX_MAX_TASKS", default=512)
# Files and folders a job may create in its output folder, /tmp and /dev/shm together.
SANDBOX_MAX_FILES = env.int("SANDBOX_MAX_FILES", default=10_000)
# A cgroup folder delegated to the worker to create jobs' pids cgroups in; unset: found on its own
# (cgroup v1 `pids`, or the worker's cgroup v2 folder when `pids` is in its subtree_control).
SANDBOX_PIDS_CGROUP = env.str("SANDBOX_PIDS_CGROUP", default="")
# Attempts per job: a job whose worker died is retried once, then failed as `infrastructure`.
SANDBOX_MAX_ATTEMPTS = env.int("SANDBOX_MAX_ATTEMPTS", default=2)
# How often a running job's progress and heartbeat are written (and its cancel flag read).
SANDBOX_HEARTBEAT_SECONDS = env.int("SANDBOX_HEARTBEAT_SECONDS", default=5)
# A running job whose heartbeat is older than this has lost its worker.
SANDBOX_STALE_SECONDS = env.int("SANDBOX_STALE_SECONDS", default=120)
# A job still queued this long after its task was sent is sent again (a lost broker message).
SANDBOX_REQUEUE_SECONDS = env.int("SANDBOX_REQUEUE_SECONDS", default=900)
# Engine module run for each job kind (`python -m MODULE SPEC.json OUTPUT_DIR`).
SANDBOX_ENGINES = {"train": "sandbox.engines.train", "evaluate": "sandbox.engines.evaluate"}
CELERY_BEAT_SCHEDULE["sandbox-reap-stale"] = {
    "task": "sandbox.tasks.reap_stale_jobs",
    "schedule": timedelta(seconds=env.int("SANDBOX_REAP_SECONDS", default=60)),
    # Not the gpu queue: its workers are busy with long jobs exactly when one needs reaping.
    "options": {"queue": "default"},
}

# Base models and uploaded adapters.
# Where `manage.py prepare_models` caches converted base models (the engines read them from there).
SANDBOX_MODEL_CACHE_DIR = env.path("SANDBOX_MODEL_CACHE_DIR", default=str(VAR_DIR / "models"))
# Local checkpoint folders usable as base models besides the built-in ones: "name=/path,other=/path".
BASE_MODELS_EXTRA = env.dict("BASE_MODELS_EXTRA", default={})
DEFAULT_BASE_MODEL = env.str("DEFAULT_BASE_MODEL", default="smollm2-135m-instruct")
# Uploaded LoRA adapters (sandbox.adapters): rank cap, size of adapter_model.safetensors, and the cap
# on its JSON header, checked before the header is read.
ADAPTER_MAX_RANK = env.int("ADAPTER_MAX_RANK", default=64)
ADAPTER_MAX_BYTES = env.int("ADAPTER_MAX_BYTES", default=256 * 1024 * 1024)
ADAPTER_MAX_HEADER_BYTES = env.int("ADAPTER_MAX_HEADER_BYTES", default=1024 * 1024)

# Vetting: hidden evaluation sets are generated from VETTING_SECRET_SEED (kept out of the repository).
VETTING_SECRET_SEED = env.str("VETTING_SECRET_SEED", default=DEVELOPMENT_VALUES["VETTING_SECRET_SEED"])
# Pass rule (non-inferiority): the lower bound of the 95% paired-bootstrap interval of general-set
# (after - before) must stay above -margin (per challenge; new challenges start with this value, the
# reference runs calibrate it).
# The repository's demo challenges generate their hidden items with public code: refused in production
# unless allowed. A deployment's own generated challenges: dotted module paths (kept outside the
# repository, on PYTHONPATH), each defining SPEC.
VETTING_ALLOW_DEMO_CHALLENGES = env.bool("VETTING_ALLOW_DEMO_CHALLENGES", default=not PRODUCTION)
VETTING_CHALLENGE_MODULES = env.list("VETTING_CHALLENGE_MODULES", default=[])
VETTING_FORGETTING_MARGIN = env.float("VETTING_FORGETTING_MARGIN", default=0.05)
# Ladder margin for released feedback scores; unset: about one standard error of the feedback split
# (0.05 for 100 items, 0.03 for 400), see vetting.ladder.margin_for.
VETTING_LADDER_MARGIN = env.float("VETTING_LADDER_MARGIN", default=None)
# Attempts per engineer per challenge in a rolling window (new challenges start with these).
VETTING_ATTEMPT_LIMIT = env.int("VETTING_ATTEMPT_LIMIT", default=3)
VETTING_ATTEMPT_WINDOW_DAYS = env.int("VETTING_ATTEMPT_WINDOW_DAYS", default=7)
# Eval-set split sizes: generated versions have exactly these, uploads at least these.
VETTING_MIN_FEEDBACK_ITEMS = env.int("VETTING_MIN_FEEDBACK_ITEMS", default=100)
VETTING_MIN_FINAL_ITEMS = env.int("VETTING_MIN_FINAL_ITEMS", default=200)
VETTING_MIN_GENERAL_ITEMS = env.int("VETTING_MIN_GENERAL_ITEMS", default=60)
# Bootstrap intervals: resamples and seed (same scores + seed -> same interval).
VETTING_BOOTSTRAP_RESAMPLES = env.int("VETTING_BOOTSTRAP_RESAMPLES", default=2000)
VETTING_BOOTSTRAP_SEED = env.int("VETTING_BOOTSTRAP_SEED", default=20240917)
# Near duplicates (warnings) and the overlap with hidden items (scoring): token-set Jaccard at or above this.
VETTING_NEAR_DUPLICATE_JACCARD = env.float("VETTING_NEAR_DUPLICATE_JACCARD", default=0.85)
# The pre-run estimate uses the training throughput measured on this deployment's recent jobs; this
# (tokens per device second; the CPU default's order) only until the first training job has run. The
# device price per hour is in minor units of VETTING_COST_CURRENCY.
# Uploads are validated in a worker on the default queue, within this many seconds (then rejected).
VETTING_VALIDATION_SECONDS = env.int("VETTING_VALIDATION_SECONDS", default=120)
VETTING_TRAIN_TOKENS_PER_SECOND = env.int("VETTING_TRAIN_TOKENS_PER_SECOND", default=120)
VETTING_DEVICE_COST_PER_HOUR = env.int("VETTING_DEVICE_COST_PER_HOUR", default=250)
VETTING_COST_CURRENCY = env.str("VETTING_COST_CURRENCY", default="usd")
VETTING_MAX_DATASET_BYTES = env.int("VETTING_MAX_DATASET_BYTES", default=50 * 1024 * 1024)
# The pipeline's sandbox jobs. Hidden items wait for their evaluate job here (private, deleted once
# the job has finished); unset: SANDBOX_ROOT/vetting-inputs.
VETTING_INPUTS_DIR = env.str("VETTING_INPUTS_DIR", default="")
# A train job's wall limit is the challenge's training budget plus this (model loading, saving).
VETTING_TRAIN_STARTUP_SECONDS = env.int("VETTING_TRAIN_STARTUP_SECONDS", default=300)
# Memory caps of the pipeline's jobs (MB); unset: SANDBOX_DEFAULT_MEMORY_MB.
VETTING_TRAIN_MEMORY_MB = env.int("VETTING_TRAIN_MEMORY_MB", default=None)
VETTING_EVAL_MEMORY_MB = env.int("VETTING_EVAL_MEMORY_MB", default=None)
VETTING_EVAL_BATCH_SIZE = env.int("VETTING_EVAL_BATCH_SIZE", default=16)

# Acceptance tests on milestones: the client's private evaluation set (items, file size), the
# forgetting floor when the client sets none (general score after / before; the ratio counterpart of
# VETTING_FORGETTING_MARGIN), and how many of the items the engineer sees as a public sample.
ACCEPTANCE_MIN_ITEMS = env.int("ACCEPTANCE_MIN_ITEMS", default=20)
ACCEPTANCE_MAX_ITEMS = env.int("ACCEPTANCE_MAX_ITEMS", default=2000)
ACCEPTANCE_MAX_SET_BYTES = env.int("ACCEPTANCE_MAX_SET_BYTES", default=20 * 1024 * 1024)
ACCEPTANCE_FORGETTING_FLOOR = env.float("ACCEPTANCE_FORGETTING_FLOOR", default=0.95)
ACCEPTANCE_PUBLIC_SAMPLE_SIZE = env.int("ACCEPTANCE_PUBLIC_SAMPLE_SIZE", default=5)
ACCEPTANCE_MAX_PUBLIC_SAMPLE = env.int("ACCEPTANCE_MAX_PUBLIC_SAMPLE", default=20)
# A delivery that passed its acceptance test is approved automatically this many days after the
# result, unless the client reviews it first (AUTO_APPROVE_DAYS otherwise).
ACCEPTANCE_AUTO_APPROVE_DAYS = env.int("ACCEPTANCE_AUTO_APPROVE_DAYS", default=3)
# A request's prompting baseline: the client's sample set (items) and how many of them are the
# few-shot examples (the rest are scored).
ACCEPTANCE_BASELINE_MIN_ITEMS = env.int("ACCEPTANCE_BASELINE_MIN_ITEMS", default=10)
ACCEPTANCE_BASELINE_MAX_ITEMS = env.int("ACCEPTANCE_BASELINE_MAX_ITEMS", default=500)
ACCEPTANCE_BASELINE_SHOTS = env.int("ACCEPTANCE_BASELINE_SHOTS", default=3)
# Training deliveries: the most device minutes terms may grant, and the training set's size cap.
ACCEPTANCE_MAX_TRAINING_MINUTES = env.int("ACCEPTANCE_MAX_TRAINING_MINUTES", default=240)
ACCEPTANCE_MAX_DATASET_BYTES = env.int("ACCEPTANCE_MAX_DATASET_BYTES", default=50 * 1024 * 1024)
# Delivered adapters are kept here (private; one folder per run); unset: MEDIA_ROOT/acceptance/adapters.
ACCEPTANCE_ADAPTERS_DIR = env.str("ACCEPTANCE_ADAPTERS_DIR", default="")
CELERY_BEAT_SCHEDULE["acceptance-runs-sweep"] = {
    "task": "acceptance.tasks.acceptance_runs_sweep",
    "schedule": timedelta(seconds=env.int("ACCEPTANCE_SWEEP_SECONDS", default=60)),
    "options": {"queue": "default"},
}
VETTING_EVAL_WALL_SECONDS = env.int("VETTING_EVAL_WALL_SECONDS", default=3600)
# The safety net under the job-finished hook: advances any submission whose jobs are done.
CELERY_BEAT_SCHEDULE["vetting-submissions-sweep"] = {
    "task": "vetting.tasks.submissions_sweep",
    "schedule": timedelta(seconds=env.int("VETTING_SWEEP_SECONDS", default=60)),
    "options": {"queue": "default"},
}

# Stripe: the local Stripe-compatible server unless real keys are set.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_USES_LOCAL_SERVER = not STRIPE_SECRET_KEY
STRIPE_LOCAL_URL = env.str("STRIPE_LOCAL_URL", default="http://127.0.0.1:8420")
if STRIPE_USES_LOCAL_SERVER:
    STRIPE_SECRET_KEY = "sk_test_local"  # noqa: S105 (the local server accepts any key)
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="pk_test_local")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default=DEVELOPMENT_VALUES["STRIPE_WEBHOOK_SECRET"])

# Payments: Stripe client behaviour, reconciliation and recovery sweeps.
# Stripe client: per-request timeout (seconds) and the SDK's automatic retries. Retries resend the same
# idempotency key, so a request whose answer was lost is replayed by Stripe, never executed twice.
STRIPE_API_TIMEOUT = env.int("STRIPE_API_TIMEOUT", default=20)
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)

# Reconciliation compares the ledger with Stripe over this many days back.
RECONCILIATION_WINDOW_DAYS = env.int("RECONCILIATION_WINDOW_DAYS", default=3)
# A payout, refund or webhook event left half-done this long (worker lost, broker down) is resumed.
PAYMENTS_RESUME_AFTER_MINUTES = env.int("PAYMENTS_RESUME_AFTER_MINUTES", default=10)

CELERY_BEAT_SCHEDULE.update(
    {
        "payments-resume-stalled": {
            "task": "payments.tasks.payments_resume_stalled",
            "schedule": timedelta(minutes=5),
        },
        "payments-holds-alert": {
            "task": "payments.tasks.holds_alert",
            "schedule": timedelta(hours=6),
        },
        "payments-reconcile": {
            "task": "payments.tasks.reconciliation_run",
            "schedule": timedelta(hours=env.int("RECONCILIATION_EVERY_HOURS", default=1)),
        },
    }
)

# Procfile (not settings): the local Stripe server, with the app's endpoint registered once it answers
# (webhook registrations live in the server's memory, so they go with its process):
# stripe: sh -c '.venv/bin/python manage.py stripe_local_setup --wait 60 & exec .venv/bin/python -m devtools.localstripe --port 8420 --data-file var/localstripe.pickle'

# Marketplace rules
AUTO_APPROVE_DAYS = env.int("AUTO_APPROVE_DAYS", default=14)
AUTO_APPROVE_REMINDER_DAYS = env.int("AUTO_APPROVE_REMINDER_DAYS", default=2)
# Messages unread this long are told to their reader, several in one notification (in-app, e-mail).
CONVERSATION_EMAIL_DELAY_MINUTES = env.int("CONVERSATION_EMAIL_DELAY_MINUTES", default=5)
# Both parties rate each other within this many days of completion; the reviews are published when both
# have rated or the window closes, and each can be edited this long after it is written.
REVIEW_WINDOW_DAYS = env.int("REVIEW_WINDOW_DAYS", default=14)
HOLD_ALERT_DAYS = env.int("HOLD_ALERT_DAYS", default=75)
PLATFORM_FEE_BPS = env.int("PLATFORM_FEE_BPS", default=1000)
# Who issues receipts and payout statements (name, address, contact), lines separated by ";".
RECEIPT_ISSUER = env.str("RECEIPT_ISSUER", default="Tunehire")
DEFAULT_CURRENCY = env.str("DEFAULT_CURRENCY", default="usd")
# Indicative exchange rates (units of each currency per US dollar) for comparing an engineer's rate with a
# request's budget in another currency; shown as "≈", never used to move money. Set EXCHANGE_RATES
# ("usd=1,eur=0.86,gbp=0.75,jpy=155") to keep them current.
EXCHANGE_RATES = {
    code: float(rate)
    for code, rate in env.dict(
        "EXCHANGE_RATES", default={"usd": 1, "eur": 0.86, "gbp": 0.75, "jpy": 155}
    ).items()
}
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
ATTACHMENT_MAX_FILES = env.int("ATTACHMENT_MAX_FILES", default=10)
ATTACHMENT_EXTENSIONS = env.list(
    "ATTACHMENT_EXTENSIONS",
    # What an ML engineer delivers: reports, notebooks, configs, data, weights, archives.
    default=[
        *("pdf", "txt", "md", "csv", "json", "jsonl", "yaml", "yml", "parquet", "safetensors"),
        *("zip", "png", "jpg", "jpeg", "ipynb", "py"),
    ],
)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Uploads over an API endpoint's cap are refused while they stream (core/uploads.py).
FILE_UPLOAD_HANDLERS = [
    "core.uploads.CappedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        "kombu.connection": {"level": "ERROR"},
        # A line for each step of every PDF, and a warning for each CSS rule it cannot print (media queries
        # for screens among them): the PDF tests read them when they need to.
        "weasyprint": {"level": "ERROR"},
    },
}
