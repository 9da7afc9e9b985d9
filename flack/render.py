"""Markdown to sanitized HTML, and the link-preview blocks appended to it."""

import re
from html import escape, unescape
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
# nh3 writes each tag it keeps as <name attr="value" ...>, with <, >, " and &
# escaped inside values, so on its output these read anchors exactly.
_ANCHOR = re.compile(r'<a((?: [a-z]+="[^"]*")*)>')
_ATTRIBUTE = re.compile(r' ([a-z]+)="([^"]*)"')


def render_markdown(source):
    """Render ``source`` to HTML holding only the allowed tags.

    Tags outside the list are stripped with their text kept (script and
    style lose their content too), so ``hello *world*!`` becomes
    ``hello <em>world</em>!`` with no wrapping paragraph.
    """
    return _clean(_markdown.render(source))


def render_message(source):
    """The sanitized HTML of ``source`` and the links in it to preview.

    The one Markdown parse of a message: the preview job reads the links
    back from the stored HTML and appends its blocks to it.
    """
    html = render_markdown(source)
    return html, previewable_links(html)


def previewable_links(html):
    """The distinct http(s) links of ``html`` made by ``render_markdown``, in order, at most a few.

    Read from the HTML, not the source, so that the preview job finds them
    without parsing the Markdown again; they are the links a reader sees
    (one typed as an ``<a>`` tag too).
    """
    links = []
    for attributes in _ANCHOR.findall(html):
        href = unescape(dict(_ATTRIBUTE.findall(attributes)).get('href', ''))
        if _previewable(href) and href not in links:
            links.append(href)
    return links[:MOST_PREVIEWS]


def _clean(html):
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel=LINK_REL,
    ).strip()


def _previewable(href):
    try:
        return urlsplit(href).scheme in PREVIEWABLE_SCHEMES
    except ValueError:  # a malformed link typed as HTML ('http://[x')
        return False


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
