"""Django admin for every annotation model. Model outputs appear as Django escapes them (no
format_html/mark_safe of their text anywhere here). Judgements are read-only: they are kept,
never edited (a change is a revision made through the app)."""
from django.contrib import admin
from django.db import models

from annotation.labelling.services import assignments_delete, dataset_labellers_set
from annotation.models import (
    AILabeller, AILabelRun, Assignment, AuditCache, Constitution, Dataset, ImportBatch, Judgement, Labeller,
    LabellerExclusion, Pair, Prompt, Rating, RatingItem, Response,
)


@admin.register(Labeller)
class LabellerAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "locale", "created_at"]
    list_filter = ["role", "locale"]
    search_fields = ["user__username", "locale"]
    raw_id_fields = ["user"]


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "mode", "overlap_k", "repeat_rate", "gold_rate", "created_at"]
    search_fields = ["name"]
    filter_horizontal = ["labellers"]

    def get_readonly_fields(self, request, obj=None):
        return ["mode"] if obj is not None else []  # set at creation: the dataset's data depends on it

    def save_related(self, request, form, formsets, change):
        # The labellers through the service, which ends a removed labeller's leases at once.
        labellers = list(form.cleaned_data.pop("labellers"))
        super().save_related(request, form, formsets, change)
        dataset_labellers_set(dataset=form.instance, labellers=labellers)


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "dataset", "last_turn", "created_at"]
    list_filter = ["dataset"]
    search_fields = ["content_hash"]
    readonly_fields = ["content_hash"]

    @admin.display(description="Last turn")
    def last_turn(self, obj):
        return str(obj)


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["id", "short_text", "source", "length_chars", "created_at"]
    list_filter = ["source"]
    search_fields = ["content_hash", "source"]
    raw_id_fields = ["prompt"]
    readonly_fields = ["content_hash", "length_chars"]

    @admin.display(description="Text")
    def short_text(self, obj):
        return obj.text[:100]


@admin.register(Pair)
class PairAdmin(admin.ModelAdmin):
    list_display = ["id", "dataset", "external_id", "response_a_text", "response_b_text", "origin", "n_judgements",
                    "gold"]
    list_filter = ["dataset", "origin"]
    search_fields = ["external_id", "content_hash"]
    raw_id_fields = ["prompt", "response_a", "response_b"]
    # The queue's counters: only the services that lease and judge keep them in step.
    readonly_fields = ["content_hash", "n_judgements", "n_leased"]
    list_select_related = ["dataset", "response_a", "response_b"]

    @admin.display(description="Response A")
    def response_a_text(self, obj):
        return obj.response_a.text[:80]

    @admin.display(description="Response B")
    def response_b_text(self, obj):
        return obj.response_b.text[:80]


@admin.register(Judgement)
class JudgementAdmin(admin.ModelAdmin):
    list_display = ["id", "pair", "labeller", "choice", "strength", "shown_left", "is_repeat", "superseded", "source",
                    "created_at"]
    list_filter = ["source", "choice", "is_repeat", "superseded", "pair__dataset"]
    search_fields = ["labeller__user__username", "pair__external_id"]
    list_select_related = ["pair__dataset", "labeller__user"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    """Leases are read-only: the queue makes and ends them, keeping Pair.n_leased in step. A lease
    deleted here is ended first, so that its pair's slot goes back to the queue."""

    list_display = ["id", "pair", "labeller", "status", "is_repeat", "is_gold", "created_at", "expires_at"]
    list_filter = ["status", "is_repeat", "is_gold"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def delete_model(self, request, obj):
        assignments_delete(assignments=self.model.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        assignments_delete(assignments=queryset)


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    list_display = ["id", "dataset", "filename", "format", "status", "n_lines", "n_pairs_created",
                    "n_judgements_created", "n_duplicates", "created_at"]
    list_filter = ["status", "format", "dataset"]
    search_fields = ["filename"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(LabellerExclusion)
class LabellerExclusionAdmin(admin.ModelAdmin):
    list_display = ["labeller", "dataset", "start", "end", "created_by", "created_at", "revoked_at"]
    list_filter = ["dataset"]
    search_fields = ["labeller__user__username", "reason"]


@admin.register(AuditCache)
class AuditCacheAdmin(admin.ModelAdmin):
    list_display = ["dataset", "kind", "key", "computed_at"]
    list_filter = ["kind"]
    readonly_fields = ["dataset", "kind", "key", "payload", "computed_at"]


@admin.register(RatingItem)
class RatingItemAdmin(admin.ModelAdmin):
    list_display = ["id", "dataset", "response", "gold_label", "n_ratings", "n_leased"]
    list_filter = ["dataset"]
    raw_id_fields = ["response"]
    readonly_fields = ["n_ratings", "n_leased"]  # kept in step by the rating services


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ["id", "item", "labeller", "label", "is_repeat", "superseded", "source", "created_at"]
    list_filter = ["item__dataset", "label", "source", "is_repeat", "superseded"]
    list_select_related = ["item", "labeller__user"]

    def get_readonly_fields(self, request, obj=None):  # kept, never edited, like judgements
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Constitution)
class ConstitutionAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "created_at"]
    search_fields = ["name"]


@admin.register(AILabeller)
class AILabellerAdmin(admin.ModelAdmin):
    """The endpoint's key is never a field here: the worker reads it from the environment variable
    named in api_key_env (annotation/ai/secrets.py)."""

    list_display = ["labeller", "backend", "constitution"]
    list_filter = ["backend"]
    exclude = ["api_key_encrypted"]
    raw_id_fields = ["labeller", "reward_run"]
    formfield_overrides = {models.URLField: {"assume_scheme": "http"}}  # local servers are often plain http


@admin.register(AILabelRun)
class AILabelRunAdmin(admin.ModelAdmin):
    list_display = ["id", "ai_labeller", "dataset", "status", "n_judged", "n_failed", "created_at"]
    list_filter = ["status"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False
