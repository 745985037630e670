"""The inference service: FastAPI app, batching worker, decoding and Grad-CAM overlays.

Nothing is loaded on import; :func:`service.main.create_app` builds the app and its lifespan the worker.
"""
