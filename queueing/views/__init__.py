"""The server-rendered dashboard, one module per page (see queueing/urls.py)."""
