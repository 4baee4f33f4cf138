from __future__ import annotations

import os
import secrets

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand

from queueing.locations import get_workspace
from queueing.roles import ensure_roles


class Command(BaseCommand):
    help = "Create the roles and a development admin user; report the code locations loaded."

    def handle(self, *args, **options):
        ensure_roles()
        password_file = settings.VAR_DIR / "admin-password.txt"
        user = User.objects.filter(username="admin").first()
        if user is None:
            password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(9)
            user = User.objects.create_user(
                "admin", password=password, is_staff=True, is_superuser=True
            )
            user.groups.add(Group.objects.get(name="admin"))
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
        password = password_file.read_text().strip() if password_file.exists() else "(set by you)"
        for location in get_workspace().locations:
            if location.error:
                self.stderr.write(
                    f"code location {location.name}: failed to load\n{location.error}"
                )
            else:
                self.stdout.write(
                    f"code location {location.name}: {len(location.defs.job_names())} jobs"
                )
        self.stdout.write(f"Log in as admin / {password}  (stored in {password_file})")
