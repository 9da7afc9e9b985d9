"""Markdown to sanitized HTML, and the link-preview blocks appended to it."""

from html import escape
from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {'a', 'abbr', 'acronym', 'b', 'code', 'em', 'i', 'strong'}
ALLOWED_ATTRIBUTES = {'a': {'href', 'title'}, 'abbr': {'title'}, 'acronym': {'title'}}
ALLOWED_URL_SCHEMES = {'http', 'https', 'mailto'}
LINK_REL = 'nofollow noopener noreferrer'
PREVIEWABLE_SCHEMES = ('http', 'https')
# A message can carry many links; previewing a few keeps the worker's load
# per message bounded.
MOST_PREVIEWS = 3

# Raw HTML is parsed so that allowed tags typed by hand (<b>) still work;
# nh3 then removes everything not on the list.
_markdown = MarkdownIt('commonmark', {'html': True, 'linkify': True}).enable('linkify')


def render_markdown(source):
    """Render ``source`` to HTML holding only the allowed tags.

    Tags outside the list are stripped with their text kept (script and
    style lose their content too), so ``hello *world*!`` becomes
    ``hello <em>world</em>!`` with no wrapping paragraph.
    """
    return _clean(_markdown.render(source))


def links_to_preview(source):
    """The distinct http(s) links of ``source``, in order, at most a few."""
    return _previewable(_markdown.parse(source))


def render_message(source):
    """``render_markdown`` and ``links_to_preview`` of ``source``, parsed once."""
    tokens = _markdown.parse(source)
    return _clean(_markdown.renderer.render(tokens, _markdown.options, {})), _previewable(tokens)


def _clean(html):
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel=LINK_REL,
    ).strip()


def _previewable(tokens):
    links = []
    for block in tokens:
        for token in block.children or ():
            href = token.attrGet('href') if token.type == 'link_open' else None
            if href and urlsplit(href).scheme in PREVIEWABLE_SCHEMES and href not in links:
                links.append(href)
    return links[:MOST_PREVIEWS]


def render_preview(url, title, description):
    """The block appended to a message for one previewed link.

    Everything taken from the remote page is escaped here, whatever it holds.
    """
    title = title or url
    description = description or 'No description found.'
    return (
        f'<blockquote><p><a href="{escape(url, quote=True)}" rel="{LINK_REL}">{escape(title)}</a></p>'
        f'<p>{escape(description)}</p></blockquote>'
    )
