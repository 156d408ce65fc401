from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from common import apis as common_apis
from common import views as common_views

handler404 = common_apis.not_found
handler500 = common_apis.server_error

api_patterns = [
    # The labelling queue first: its two calls are most of the traffic, and URLs resolve in order.
    path("", include("annotation.labelling.api_urls")),
    path("", include("annotation.ratings.api_urls")),
    path("", include("annotation.dataio.api_urls")),
    path("", include("annotation.audit.api_urls")),
    path("", include("annotation.review.api_urls")),
    path("", include("annotation.ai.api_urls")),
    path("", include("rewardmodel.api_urls")),
    path("", include("training.api_urls")),
    path("", include("annotation.critique.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

urlpatterns = [
    path("api/", include(api_patterns)),  # first: the labelling queue's calls are most requests
    path("", common_views.home, name="home"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("data/", include("annotation.dataio.urls")),
    path("label/", include("annotation.labelling.urls")),
    path("label/", include("annotation.ratings.urls")),
    path("audit/", include("annotation.audit.urls")),
    path("team/", include("annotation.team.urls")),
    path("review/", include("annotation.review.urls")),
    path("ai-labellers/", include("annotation.ai.urls")),
    path("reward-models/", include("rewardmodel.urls")),
    path("policy-runs/", include("training.urls")),
    path("critique/", include("annotation.critique.urls")),
]
