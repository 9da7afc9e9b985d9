"""Link previews: the guarded fetcher (``fetch``) and the preview job
(``job``) that the background work of either mode runs for a message."""

from .job import MOST_PREVIEW_ATTEMPTS, PreviewsNotReady, add_previews, pending_message_ids

__all__ = ['MOST_PREVIEW_ATTEMPTS', 'PreviewsNotReady', 'add_previews', 'pending_message_ids']
