from django.apps import AppConfig
from django.db.models.signals import post_migrate


class QueueingConfig(AppConfig):
    name = "queueing"
    verbose_name = "Run queue and pools"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .roles import ensure_roles

        post_migrate.connect(ensure_roles, sender=self)
