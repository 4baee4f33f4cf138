FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 VAR_DIR=/var/lib/concurrency-ui
WORKDIR /app
COPY pyproject.toml ./
COPY concurrency_ui ./concurrency_ui
COPY queueing ./queueing
RUN pip install .
COPY . .
RUN mkdir -p $VAR_DIR && python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "concurrency_ui.wsgi", "-b", "0.0.0.0:8000", "-w", "3"]
