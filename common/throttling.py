"""DRF's anonymous and per-user rate limits, with their rates read from settings.ARBITER_THROTTLE_RATES
on each request (DRF's own classes read theirs once, at import), so that they follow the settings."""
from django.conf import settings
from rest_framework import throttling


class AnonRateThrottle(throttling.AnonRateThrottle):
    def get_rate(self):
        return settings.ARBITER_THROTTLE_RATES[self.scope]


class UserRateThrottle(throttling.UserRateThrottle):
    def get_rate(self):
        return settings.ARBITER_THROTTLE_RATES[self.scope]
