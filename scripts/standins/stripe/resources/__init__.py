"""The /v1 API's resources, one module per area (routed by api.py)."""
