"""A demo code location with fast, realistic jobs to exercise queues, tag limits and pools."""
