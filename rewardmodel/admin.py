from django.contrib import admin

from rewardmodel.models import RewardModelRun


@admin.register(RewardModelRun)
class RewardModelRunAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "dataset", "status", "progress", "created_at"]
    list_filter = ["status"]
