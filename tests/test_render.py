"""Markdown rendering: compatible with the original, and never active content."""

from html.parser import HTMLParser

import pytest

from flack.render import ALLOWED_TAGS, MOST_PREVIEWS, render_markdown, render_message, render_preview


class _Elements(HTMLParser):
    """Collects every start tag and its attributes."""

    def __init__(self, html):
        super().__init__()
        self.elements = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


def test_emphasis_renders_without_a_wrapping_paragraph():
    assert render_markdown('hello *world*!') == 'hello <em>world</em>!'


def test_a_bare_url_becomes_a_nofollow_link():
    assert render_markdown('hello http://foo.com!') == (
        'hello <a href="http://foo.com" rel="nofollow noopener noreferrer">http://foo.com</a>!'
    )


@pytest.mark.parametrize(
    'source',
    [
        '<script>alert(1)</script>',
        '<img src=x onerror=alert(1)>',
        '[x](javascript:alert(1))',
        '[x](JaVaScRiPt:alert(1))',
        '<iframe src="https://example.com"></iframe>',
        '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">click</a>',
        '[click](data:text/html,<script>alert(1)</script>)',
        '<a href="javascript:alert(1)" onclick="alert(1)">x</a>',
        '<b style="background:url(javascript:alert(1))" onmouseover="alert(1)">bold</b>',
        '<svg><script>alert(1)</script></svg>',
        '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
        '![x](javascript:alert(1))',
        '<style>body{display:none}</style>',
        '<object data="x.swf"></object><embed src="x.swf">',
        '<form action="https://evil.example"><input></form>',
    ],
)
def test_no_active_content_survives(source):
    html = render_markdown(source)

    for tag, attributes in _Elements(html).elements:
        assert tag in ALLOWED_TAGS
        assert not [name for name in attributes if name.startswith('on') or name == 'style']
        href = attributes.get('href', 'http:')
        assert href.split(':', 1)[0].lower() in ('http', 'https', 'mailto')
    assert '<script' not in html and 'alert(1)</' not in html


def test_allowed_tags_typed_as_html_are_kept():
    assert render_markdown('<b>bold</b> and <code>x</code>') == '<b>bold</b> and <code>x</code>'


def test_other_tags_are_stripped_with_their_text_kept():
    assert render_markdown('# Title') == 'Title'


def test_the_links_to_preview_are_the_distinct_http_links_of_the_message():
    source = (
        'see http://a.example, [b](https://b.example/x?a=1&b=2) and mailto:c@example.com and http://a.example'
    )

    html, links = render_message(source)

    assert html == render_markdown(source)
    assert links == ['http://a.example', 'https://b.example/x?a=1&b=2']


def test_a_link_typed_as_html_is_previewed_like_any_other():
    _, links = render_message('<a href="https://a.example/" title="&quot;t&quot;">a</a> https://b.example/')

    assert links == ['https://a.example/', 'https://b.example/']


def test_a_link_the_reader_does_not_see_as_one_is_not_previewed():
    # The sanitizer drops what <style> holds, and shows what <textarea> holds as text.
    for source in ('x <style>[a](https://a.example/)</style>', 'x <textarea>https://a.example/</textarea>'):
        assert render_message(source)[1] == []


def test_at_most_a_few_links_are_previewed():
    _, links = render_message(' '.join(f'https://{number}.example/' for number in range(MOST_PREVIEWS + 2)))

    assert links == [f'https://{number}.example/' for number in range(MOST_PREVIEWS)]


def test_a_preview_escapes_everything_from_the_page():
    block = render_preview(
        'http://x.example/?a=1&b="2"', '<script>alert(1)</script>', '<img src=x onerror=1>'
    )

    assert '<script>' not in block and '<img' not in block
    assert '&lt;script&gt;' in block
    assert 'href="http://x.example/?a=1&amp;b=&quot;2&quot;"' in block


def test_a_preview_without_title_or_description_uses_the_url_and_a_note():
    block = render_preview('http://x.example/', None, None)

    assert block == (
        '<blockquote><p><a href="http://x.example/" rel="nofollow noopener noreferrer">http://x.example/</a></p>'
        '<p>No description found.</p></blockquote>'
    )
