"""The HTTP service: FastAPI app, API keys, request limits; ``xiaobao serve`` runs it."""
