"""The web console at ``/console``: server-rendered pages for the people who run the paging.

It reads and acts through the same pipeline as the API (``Dispatcher.call``): what a signed-in
principal sees and may do is what its access key may do with the AWS CLI, checked by the same
authorization, in its own account and region only. See ``routes.py``.
"""

from incident_contacts.console.routes import build_console

__all__ = ["build_console"]
