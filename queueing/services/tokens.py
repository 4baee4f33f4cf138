"""API tokens (django-rest-knox): only a digest of each is stored, so a token is shown once."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from knox.models import AuthToken


def create_token(user: AbstractBaseUser) -> str:
    """A new token for `user`, valid until revoked; their previous token stops working.
    Holds nothing but the user's own token rows (delete then create, one transaction)."""
    with transaction.atomic():
        AuthToken.objects.filter(user=user).delete()
        _, token = AuthToken.objects.create(user=user, expiry=None)
    return token


def revoke_token(user: AbstractBaseUser) -> None:
    """`user`'s token stops working at once."""
    AuthToken.objects.filter(user=user).delete()
