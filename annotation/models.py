"""The preference data: who compared what, and what they said.

Judgements are never overwritten: a revision is a new row pointing at the one it revises, and the
revised one is marked superseded. Invariants that concurrent requests must not break are database
constraints.
"""
from django.conf import settings
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from common.models import Job


class Side(models.TextChoices):
    A = "a", "A"
    B = "b", "B"


class Choice(models.TextChoices):
    A = "a", "A better"
    B = "b", "B better"
    TIE = "tie", "Tie"
    BOTH_BAD = "both_bad", "Both bad"


DEFAULT_CHOICES = [Choice.A, Choice.B, Choice.TIE, Choice.BOTH_BAD]
DEFAULT_STRENGTH_SCALE = {"1": "slightly better", "2": "clearly better", "3": "much better"}
RESPONSE_FLAGS = ["harmful", "factually_wrong", "unhelpful_refusal", "off_topic"]
# Bounds on what labellers and admins set (README: "Input bounds"). The rationale's is checked by
# the labelling services; imported judgements keep theirs as they come.
RATIONALE_MAX_CHARS = 5000
# A lease longer than a week would keep an abandoned pair from the queue longer than any labelling
# session (and an unbounded one overflows the date arithmetic of every lease of the dataset).
LEASE_MINUTES_MAX = 7 * 24 * 60
OVERLAP_K_MAX = 100
DESCRIPTION_MAX_CHARS = 2000
INSTRUCTIONS_MAX_CHARS = 20000
STRENGTH_LABEL_MAX_CHARS = 100


def default_choices():
    return [str(c) for c in DEFAULT_CHOICES]


def default_strength_scale():
    return dict(DEFAULT_STRENGTH_SCALE)


class Labeller(models.Model):
    class Role(models.TextChoices):
        LABELLER = "labeller", "Labeller"
        ADMIN = "admin", "Admin"
        AI = "ai", "Automated / AI labeller"
        IMPORTED = "imported", "Imported (from another tool)"

    class Kind(models.TextChoices):
        HUMAN = "human", "Person"
        MODEL = "model", "Model (AI labeller)"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="labeller")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.HUMAN)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.LABELLER)
    locale = models.CharField(max_length=32, blank=True, help_text="Locale or region, for breakdowns.")
    expertise_tags = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(kind__in=["human", "model"]), name="labeller_kind_valid")]

    def __str__(self):
        return self.user.username

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN or self.user.is_staff


class Constitution(models.Model):
    """A named, versioned list of principles an AI labeller judges by (Constitutional AI): each
    judgement draws one principle at random and records it. A new version is a new row; judgements
    keep pointing at the version they were made under."""

    name = models.CharField(max_length=200)
    version = models.PositiveIntegerField(default=1)
    principles = models.JSONField(help_text="A list of strings, one principle each.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [models.UniqueConstraint(fields=["name", "version"], name="constitution_version_unique")]

    def __str__(self):
        return f"{self.name} v{self.version}"


class AILabeller(models.Model):
    """How a labeller of kind "model" judges: its backend, the constitution it samples principles
    from, its prompt template and settings. The HTTP backend's key is read from the environment
    variable `api_key_env` or stored encrypted in `api_key_encrypted`; it is never shown back."""

    class Backend(models.TextChoices):
        CAUSAL_LM = "causal_lm", "Local Hugging Face causal LM (answer-token log-probabilities)"
        REWARD_MODEL = "reward_model", "Trained reward model (margin of its two scores)"
        OPENAI = "openai", "OpenAI-compatible chat-completions endpoint"

    labeller = models.OneToOneField(Labeller, on_delete=models.CASCADE, related_name="ai")
    backend = models.CharField(max_length=16, choices=Backend.choices)
    model_path = models.CharField(max_length=1024, blank=True, help_text="causal_lm: a local HF folder.")
    reward_run = models.ForeignKey("rewardmodel.RewardModelRun", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="ai_labellers", help_text="reward_model: the judging run.")
    endpoint_url = models.URLField(max_length=1024, blank=True, help_text="openai: the server's base URL (…/v1).")
    endpoint_model = models.CharField(max_length=200, blank=True, help_text="openai: the model name to ask for.")
    api_key_env = models.CharField(max_length=100, blank=True, help_text="openai: the environment variable holding the key.")
    api_key_encrypted = models.TextField(blank=True)
    constitution = models.ForeignKey(Constitution, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="ai_labellers")
    prompt_template = models.TextField(blank=True, help_text="Blank: the built-in template.")
    settings = models.JSONField(default=dict, blank=True,
                                help_text='{"temperature": 0.0, "both_orders": true, "tie_margin": 0.1, ...}')

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(backend__in=["causal_lm", "reward_model", "openai"]),
                                   name="ai_labeller_backend_valid"),
        ]

    def __str__(self):
        return f"{self.labeller} ({self.get_backend_display()})"


class Dataset(models.Model):
    class Mode(models.TextChoices):
        COMPARE = "compare", "Compare two responses"
        RATE = "rate", "Rate one response (thumbs up / down)"

    name = models.CharField(max_length=200, unique=True)
    mode = models.CharField(
        max_length=8, choices=Mode.choices, default=Mode.COMPARE,
        help_text="compare: labellers pick the better of a pair; rate: they give one response a thumbs up or "
                  "down (the unpaired feedback KTO learns from).",
    )
    description = models.TextField(
        blank=True, validators=[MaxLengthValidator(DESCRIPTION_MAX_CHARS)],
        help_text=f"At most {DESCRIPTION_MAX_CHARS} characters.",
    )
    instructions = models.TextField(
        blank=True, validators=[MaxLengthValidator(INSTRUCTIONS_MAX_CHARS)],
        help_text=f"Markdown shown to labellers, at most {INSTRUCTIONS_MAX_CHARS} characters.",
    )
    overlap_k = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(OVERLAP_K_MAX)],
        help_text=f"Judgements wanted per pair: 1 to {OVERLAP_K_MAX}.",
    )
    repeat_rate = models.FloatField(default=0.05, help_text="Share of a labeller's pairs shown again later.")
    gold_rate = models.FloatField(default=0.0, help_text="Share of a labeller's pairs drawn from gold items.")
    choices = models.JSONField(default=default_choices)
    strength_scale = models.JSONField(default=default_strength_scale)
    lease_minutes = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(LEASE_MINUTES_MAX)],
        help_text=f"How long a labeller holds a pair before it goes back to the queue: 1 to {LEASE_MINUTES_MAX} "
                  "minutes.",
    )
    labellers = models.ManyToManyField(Labeller, blank=True, related_name="datasets")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(overlap_k__gte=1), name="dataset_overlap_k_positive"),
            models.CheckConstraint(condition=Q(overlap_k__lte=OVERLAP_K_MAX), name="dataset_overlap_k_bounded"),
            models.CheckConstraint(condition=Q(repeat_rate__gte=0, repeat_rate__lte=1), name="dataset_repeat_rate_unit"),
            models.CheckConstraint(condition=Q(gold_rate__gte=0, gold_rate__lte=1), name="dataset_gold_rate_unit"),
            models.CheckConstraint(condition=Q(lease_minutes__gte=1, lease_minutes__lte=LEASE_MINUTES_MAX),
                                   name="dataset_lease_minutes_bounded"),
            models.CheckConstraint(condition=Q(mode__in=["compare", "rate"]), name="dataset_mode_valid"),
        ]

    def __str__(self):
        return self.name


class Prompt(models.Model):
    """A conversation: `messages` is an ordered list of {"role", "content"} turns."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="prompts")
    messages = models.JSONField()
    content_hash = models.CharField(max_length=64)
    tags = models.JSONField(default=list, blank=True, help_text="Domain tags.")
    stated_belief = models.TextField(blank=True, help_text="A belief the user stated, for sycophancy analysis.")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset", "content_hash"], name="prompt_unique_per_dataset")]

    def __str__(self):
        last = self.messages[-1]["content"] if self.messages else ""
        return last[:80]


class Response(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses")
    text = models.TextField()
    source = models.CharField(max_length=200, blank=True, help_text="The model or tool that produced it.")
    metadata = models.JSONField(default=dict, blank=True)
    length_chars = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["prompt", "source", "content_hash"], name="response_unique_per_prompt")
        ]

    def __str__(self):
        return self.text[:80]


class Pair(models.Model):
    class Origin(models.TextChoices):
        IMPORTED = "imported", "Imported"
        GENERATED = "generated", "Generated by a policy run"
        MANUAL = "manual", "Created by hand"
        CRITIQUE = "critique", "Critique and revision (Constitutional AI)"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="pairs")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="pairs")
    response_a = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    response_b = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.IMPORTED)
    origin_run = models.CharField(max_length=100, blank=True, help_text="The run that generated it, e.g. 'ppo:12'.")
    external_id = models.CharField(max_length=200, blank=True, help_text="Its id in the file it came from.")
    content_hash = models.CharField(max_length=64)
    gold = models.CharField(max_length=1, choices=Side.choices, blank=True)
    agrees_with_user = models.CharField(max_length=1, choices=Side.choices, blank=True)
    # Judgements counted towards overlap_k (repeats and superseded revisions are not). Kept in step
    # by the services that write judgements, under a row lock, so the queue can read it cheaply.
    n_judgements = models.PositiveIntegerField(default=0)
    # Active leases that hold one of the pair's overlap_k slots (planned repeats and gold checks do
    # not). Kept in step under the same row lock as n_judgements, so the queue finds open pairs
    # (n_judgements + n_leased < overlap_k) from the pair row alone, and a lock on that row is
    # enough to hand out its last slot once.
    n_leased = models.PositiveIntegerField(default=0)
    # Judgements wanted beyond the dataset's overlap_k: a reviewer who sends the pair back for more
    # judgements raises it, so the queue leases the pair again (open while
    # n_judgements + n_leased - extra_overlap < overlap_k).
    extra_overlap = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "content_hash"], name="pair_unique_per_dataset"),
            models.CheckConstraint(condition=~Q(response_a=F("response_b")), name="pair_distinct_responses"),
            models.CheckConstraint(condition=Q(extra_overlap__lte=OVERLAP_K_MAX), name="pair_extra_overlap_bounded"),
        ]
        indexes = [
            models.Index(fields=["dataset", "n_judgements"]),
            # The queue walks a dataset's pairs from the one with fewest slots left to fill down.
            models.Index(F("dataset"), F("n_judgements") + F("n_leased") - F("extra_overlap"), F("id"),
                         name="pair_queue_order"),
        ]

    def __str__(self):
        return f"Pair {self.pk} ({self.dataset})"


class ImportBatch(models.Model):
    class Status(models.TextChoices):
        VALIDATING = "validating", "Validating"
        SUCCEEDED = "succeeded", "Imported"
        FAILED = "failed", "Rejected"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="imports")
    format = models.CharField(max_length=16)
    filename = models.CharField(max_length=500)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.VALIDATING)
    n_lines = models.PositiveIntegerField(default=0)
    n_pairs_created = models.PositiveIntegerField(default=0)
    n_judgements_created = models.PositiveIntegerField(default=0)
    n_duplicates = models.PositiveIntegerField(default=0)
    # Ratings imports (format "unpaired") write responses to rate and their ratings instead of pairs.
    n_rating_items_created = models.PositiveIntegerField(default=0)
    n_ratings_created = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="[{line, field, message}]")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    duration_s = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class ImportUpload(Job):
    """A file uploaded on the Data page too large to import within the web request: a worker
    imports it (annotation.dataio.uploads). `summary` holds the rejected lines when it fails."""

    dataset_name = models.CharField(max_length=200)
    filename = models.CharField(max_length=500)
    upload_path = models.CharField(max_length=1024, help_text="The stored upload; removed once imported or rejected.")
    format = models.CharField(max_length=16, default="auto")
    skip_invalid = models.BooleanField(default=False)
    batch = models.ForeignKey(ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")


class Judgement(models.Model):
    class Source(models.TextChoices):
        APP = "app", "Made in Arbiter"
        IMPORT = "import", "Imported"

    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="judgements")
    labeller = models.ForeignKey(Labeller, on_delete=models.PROTECT, related_name="judgements")
    choice = models.CharField(max_length=16, choices=Choice.choices)
    strength = models.PositiveSmallIntegerField(null=True, blank=True)
    rationale = models.TextField(blank=True)
    flags = models.JSONField(default=dict, blank=True, help_text='{"a": ["harmful"], "b": []}')
    shown_left = models.CharField(max_length=1, choices=Side.choices, blank=True, help_text="Blank when unknown.")
    time_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    is_repeat = models.BooleanField(default=False)
    idempotency_key = models.CharField(max_length=100, blank=True)
    revision_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="revisions")
    superseded = models.BooleanField(default=False, help_text="A later revision replaces it.")
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.APP)
    import_batch = models.ForeignKey(ImportBatch, null=True, blank=True, on_delete=models.SET_NULL)
    # An AI labeller's evidence: the principle drawn, the constitution version, each order's raw
    # verdict and probabilities, the backend's model name. Empty for people.
    ai_detail = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(choice__in=[c.value for c in Choice]), name="judgement_choice_valid"),
            models.CheckConstraint(
                condition=Q(strength__isnull=True) | Q(strength__gte=1, strength__lte=3), name="judgement_strength_1_3"
            ),
            # One first judgement of a pair per labeller; repeats and revisions are extra rows.
            models.UniqueConstraint(
                fields=["pair", "labeller"],
                condition=Q(is_repeat=False, revision_of__isnull=True),
                name="judgement_once_per_labeller",
            ),
            models.UniqueConstraint(
                fields=["labeller", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="judgement_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["pair", "superseded"]),
            models.Index(fields=["labeller", "created_at"]),
        ]

    def __str__(self):
        return f"{self.labeller} on pair {self.pair_id}: {self.choice}"


class Assignment(models.Model):
    """A lease of one pair to one labeller; it expires so that abandoned pairs return."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        SKIPPED = "skipped", "Skipped"
        EXPIRED = "expired", "Expired"

    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="assignments")
    labeller = models.ForeignKey(Labeller, on_delete=models.CASCADE, related_name="assignments")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    shown_left = models.CharField(max_length=1, choices=Side.choices)
    is_repeat = models.BooleanField(default=False)
    is_gold = models.BooleanField(default=False)
    skip_reason = models.CharField(max_length=200, blank=True)
    judgement = models.OneToOneField(Judgement, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pair", "labeller"], condition=Q(status="active"), name="assignment_one_active_lease"
            )
        ]
        indexes = [
            models.Index(fields=["labeller", "status"]),
            models.Index(fields=["pair", "status", "expires_at"]),
            # The expiry sweep looks for active leases past their end.
            models.Index(fields=["status", "expires_at"], name="assignment_expiry"),
            models.Index(fields=["labeller", "pair"], name="assignment_labeller_pair"),
            # The queue looks up a labeller's current lease on every request: a handful of rows.
            models.Index(fields=["labeller", "created_at"], condition=Q(status="active"), name="assignment_active_lease"),
        ]


class LabellerExclusion(models.Model):
    """An admin's decision to leave a labeller's judgements (all, or a time range) out of training
    data and exports, recorded with who and why."""

    labeller = models.ForeignKey(Labeller, on_delete=models.CASCADE, related_name="exclusions")
    dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.CASCADE, help_text="Blank: all datasets.")
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    reason = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    revoke_reason = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(start__isnull=True) | Q(end__isnull=True) | Q(start__lt=F("end")),
                name="exclusion_range_ordered",
            )
        ]


class AuditCache(models.Model):
    """A computed audit report, valid while `key` (derived from the judgements and exclusions it
    read) still matches."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="audit_caches")
    kind = models.CharField(max_length=32)
    key = models.CharField(max_length=128)
    payload = models.JSONField()
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset", "kind"], name="audit_cache_unique")]


class DatasetReviewer(models.Model):
    """A labeller given the reviewer role on one dataset: they may open its review queue and record
    decisions. Admins review every dataset without a row here."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="reviewers")
    labeller = models.ForeignKey(Labeller, on_delete=models.CASCADE, related_name="reviewing")
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset", "labeller"], name="dataset_reviewer_unique")]


class ReviewDecision(models.Model):
    """A reviewer's decision on a pair, kept beside its judgements (which are never changed): accept
    what the labellers said, override it with a choice, or send the pair back for more judgements.
    A later decision on the same pair is a new row; the latest one is the pair's current decision."""

    class Action(models.TextChoices):
        ACCEPT = "accept", "Accept the labellers' majority"
        OVERRIDE = "override", "Override with a decision"
        SEND_BACK = "send_back", "Send back for more judgements"

    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="review_decisions")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_decisions")
    action = models.CharField(max_length=16, choices=Action.choices)
    choice = models.CharField(max_length=16, choices=Choice.choices, blank=True, help_text="The override's choice.")
    reason = models.TextField(blank=True, validators=[MaxLengthValidator(RATIONALE_MAX_CHARS)])
    extra_judgements = models.PositiveSmallIntegerField(default=0, help_text="Send back: how many more wanted.")
    listed_for = models.JSONField(default=list, blank=True, help_text="Why the queue listed the pair then.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(action__in=["accept", "override", "send_back"]),
                                   name="review_decision_action_valid"),
            models.CheckConstraint(
                condition=(Q(action="override") & Q(choice__in=[c.value for c in Choice]) & ~Q(reason=""))
                | (~Q(action="override") & Q(choice="")),
                name="review_override_has_choice_and_reason",
            ),
            models.CheckConstraint(
                condition=Q(action="send_back", extra_judgements__gte=1) | (~Q(action="send_back") & Q(extra_judgements=0)),
                name="review_send_back_asks_for_more",
            ),
        ]
        indexes = [models.Index(fields=["pair", "-created_at", "-id"], name="review_decision_latest")]


class CritiqueRun(Job):
    """Constitutional AI's supervised stage over a dataset (annotation/critique/): for each prompt and
    response, a local causal LM writes a critique against a principle drawn from the constitution,
    then a revision. Each result is a CritiqueRevision; with output "pair" the revision and the
    original also become a new Pair of the dataset (origin "critique", the revision expected to win)
    for labellers to check. `config`: {"max_new_tokens", "temperature", "seed", "chat_template"}."""

    class Output(models.TextChoices):
        PAIR = "pair", "A new pair (original vs revision) for labellers to check"
        SFT = "sft", "SFT data only (prompt + revision), no pair"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="critique_runs")
    model_path = models.CharField(max_length=1024, help_text="A local Hugging Face causal LM folder.")
    constitution = models.ForeignKey(Constitution, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                     help_text="Blank: the built-in principles.")
    limit = models.PositiveIntegerField(null=True, blank=True, help_text="At most this many responses; blank: all.")
    output = models.CharField(max_length=8, choices=Output.choices, default=Output.PAIR)

    class Meta(Job.Meta):
        constraints = [models.CheckConstraint(condition=Q(output__in=["pair", "sft"]), name="critique_run_output_valid")]

    def __str__(self):
        return f"Critique run {self.pk}"


class CritiqueRevision(models.Model):
    """One critique and revision, with its provenance: the response revised, the principle drawn,
    the model that wrote both, and (output "pair") the revision's Response and the new Pair."""

    run = models.ForeignKey(CritiqueRun, on_delete=models.CASCADE, related_name="revisions")
    source_response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="critiques")
    principle = models.TextField()
    critique = models.TextField(blank=True)
    revision = models.TextField(blank=True)
    model = models.CharField(max_length=1024)
    revision_response = models.ForeignKey(Response, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    pair = models.ForeignKey(Pair, null=True, blank=True, on_delete=models.SET_NULL, related_name="critique_revisions")
    expected_side = models.CharField(max_length=1, choices=Side.choices, blank=True,
                                     help_text="The pair's side holding the revision, expected to win.")
    note = models.CharField(max_length=300, blank=True, help_text="Why no pair was made, when none was.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "id"]
        constraints = [
            # a resumed run picks up where it stopped: each response is revised once per run
            models.UniqueConstraint(fields=["run", "source_response"], name="critique_revision_once_per_run"),
        ]


class RatingItem(models.Model):
    """One response of a "rate" dataset put to labellers on its own (the rating counterpart of a
    Pair): its queue counters and its gold label live here, not on the Response."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="rating_items")
    response = models.OneToOneField(Response, on_delete=models.CASCADE, related_name="rating_item")
    external_id = models.CharField(max_length=200, blank=True, help_text="Its id in the file it came from.")
    gold_label = models.BooleanField(null=True, blank=True, help_text="The known answer (True: thumbs up), for gold checks.")
    # Counted ratings (first, current) and active leases holding one of its overlap_k slots; kept in
    # step under this row's lock by annotation.ratings.services, as Pair.n_judgements/n_leased are.
    n_ratings = models.PositiveIntegerField(default=0)
    n_leased = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(F("dataset"), F("n_ratings") + F("n_leased"), F("id"), name="rating_item_queue_order"),
        ]

    def __str__(self):
        return f"Rating item {self.pk} ({self.dataset_id})"


class Rating(models.Model):
    """A labeller's thumbs up (label True) or down (False) on one response. Like judgements, never
    overwritten: a revision is a new row and the revised one is marked superseded."""

    class Source(models.TextChoices):
        APP = "app", "Made in Arbiter"
        IMPORT = "import", "Imported"

    item = models.ForeignKey(RatingItem, on_delete=models.CASCADE, related_name="ratings")
    labeller = models.ForeignKey(Labeller, on_delete=models.PROTECT, related_name="ratings")
    label = models.BooleanField(help_text="True: thumbs up (desirable); False: thumbs down.")
    rationale = models.TextField(blank=True)
    flags = models.JSONField(default=list, blank=True, help_text='e.g. ["harmful"]')
    time_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    is_repeat = models.BooleanField(default=False)
    idempotency_key = models.CharField(max_length=100, blank=True)
    revision_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="revisions")
    superseded = models.BooleanField(default=False, help_text="A later revision replaces it.")
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.APP)
    import_batch = models.ForeignKey(ImportBatch, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item", "labeller"], condition=Q(is_repeat=False, revision_of__isnull=True),
                name="rating_once_per_labeller",
            ),
            models.UniqueConstraint(
                fields=["labeller", "idempotency_key"], condition=~Q(idempotency_key=""), name="rating_idempotency_key",
            ),
            models.CheckConstraint(condition=Q(source__in=["app", "import"]), name="rating_source_valid"),
        ]
        indexes = [
            models.Index(fields=["item", "superseded"]),
            models.Index(fields=["labeller", "created_at"]),
        ]

    def __str__(self):
        return f"{self.labeller} on rating item {self.item_id}: {'up' if self.label else 'down'}"


class RatingAssignment(models.Model):
    """A lease of one rating item to one labeller (the rating counterpart of Assignment)."""

    Status = Assignment.Status

    item = models.ForeignKey(RatingItem, on_delete=models.CASCADE, related_name="assignments")
    labeller = models.ForeignKey(Labeller, on_delete=models.CASCADE, related_name="rating_assignments")
    status = models.CharField(max_length=16, choices=Assignment.Status.choices, default=Assignment.Status.ACTIVE)
    is_repeat = models.BooleanField(default=False)
    is_gold = models.BooleanField(default=False)
    skip_reason = models.CharField(max_length=200, blank=True)
    rating = models.OneToOneField(Rating, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item", "labeller"], condition=Q(status="active"), name="rating_assignment_one_active_lease"
            ),
        ]
        indexes = [
            models.Index(fields=["labeller", "status"], name="rating_lease_labeller_status"),
            models.Index(fields=["status", "expires_at"], name="rating_lease_expiry"),
        ]


class AILabelRun(Job):
    """An AI labeller judging a dataset's pairs (annotation.ai.runs). Resuming skips the pairs it
    has already judged; a pair that fails is listed in `failures` and tried again on a resume."""

    ai_labeller = models.ForeignKey(AILabeller, on_delete=models.PROTECT, related_name="runs")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="ai_label_runs")
    limit = models.PositiveIntegerField(null=True, blank=True, help_text="Judge at most this many pairs; blank: all.")
    below_human_k = models.PositiveSmallIntegerField(
        null=True, blank=True,
        help_text="Only pairs with fewer than this many human judgements; blank: every pair.",
    )
    seed = models.IntegerField(default=0, help_text="Seeds the principle drawn for each pair.")
    pair_ids = models.JSONField(default=list, blank=True, help_text="Only these pairs of the dataset; empty: all.")
    n_pairs = models.PositiveIntegerField(default=0, help_text="Pairs to judge when the run (or its resume) started.")
    n_judged = models.PositiveIntegerField(default=0)
    n_failed = models.PositiveIntegerField(default=0)
    failures = models.JSONField(default=list, blank=True,
                                help_text="[{pair_id, error, orders}] of the pairs without a judgement.")

    class Meta(Job.Meta):
        constraints = [
            models.CheckConstraint(condition=Q(limit__isnull=True) | Q(limit__gte=1), name="ai_label_run_limit_positive"),
            models.CheckConstraint(condition=Q(below_human_k__isnull=True) | Q(below_human_k__gte=1),
                                   name="ai_label_run_below_k_positive"),
            # two runs of one labeller on one dataset at once would judge the same pairs twice over
            models.UniqueConstraint(fields=["ai_labeller", "dataset"], condition=Q(status__in=["queued", "running"]),
                                    name="ai_label_run_one_active"),
        ]

    def __str__(self):
        return f"AI labelling {self.pk}: {self.ai_labeller.labeller} on {self.dataset}"
