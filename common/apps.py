from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "common"

    def ready(self):
        from django.urls import register_converter

        from common.validation import BoundedIdConverter

        # Every URL's ids are `<id:...>`: numbers beyond the database's range are a 404.
        register_converter(BoundedIdConverter, "id")
