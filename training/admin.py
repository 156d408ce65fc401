from django.contrib import admin

from training.models import MonitorWarning, PolicyRun, PolicySample, PolicyStep, SFTRun


@admin.register(SFTRun)
class SFTRunAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "dataset", "status", "progress", "created_at")
    list_filter = ("status",)
    readonly_fields = ("losses",)


@admin.register(PolicyRun)
class PolicyRunAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "sft_run", "reward_run", "status", "progress", "created_at")
    list_filter = ("status",)


@admin.register(PolicyStep)
class PolicyStepAdmin(admin.ModelAdmin):
    list_display = ("run", "step", "created_at")


@admin.register(PolicySample)
class PolicySampleAdmin(admin.ModelAdmin):
    list_display = ("run", "step", "score", "kl")


@admin.register(MonitorWarning)
class MonitorWarningAdmin(admin.ModelAdmin):
    list_display = ("run", "kind", "step", "value", "threshold", "times_fired")
