"""The rules of concurrency-ui as pure Python: no Django, no Celery, no clock.

Everything here takes plain values (frozen dataclasses, `now` as an argument) and
returns decisions, so the daemon, the API and the dashboard ask the same function.
"""
