app_name = "labelling"
urlpatterns = []
