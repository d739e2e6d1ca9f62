"""incident-contacts: AWS Systems Manager Incident Manager Contacts, self-hosted.

The public surface is small: the ASGI application factory, the in-process mock, and the
version. Everything else is internal and may change between releases.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
