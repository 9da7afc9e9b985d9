"""Markdown rendering, as properties: whatever the source, the html holds no active content.

The rendered html is read back with an HTML parser (which decodes entities in
attribute values, as a browser does) and checked against the allow-list in
``flack.render``: only the allowed tags, only their allowed attributes (plus
the ``rel`` that the sanitizer adds to links), no event handler, no style, no
link to a scheme other than http, https or mailto, and ``nofollow`` on every
link.
"""

import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flack.render import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, MOST_PREVIEWS, render_markdown, render_message

# Written out rather than imported: these are the contract's schemes, so that a
# scheme added to the sanitizer's list by mistake fails here.
SAFE_URL_SCHEMES = {'http', 'https', 'mailto'}

# A fixed, bounded run: the same examples every time (no flakiness in CI),
# and no example database written into the working tree.
bounded_run = settings(max_examples=300, deadline=None, derandomize=True, database=None)

# Browsers strip leading and trailing C0 controls and spaces from a URL and
# drop tabs and newlines anywhere in it before they read the scheme, so
# "java\tscript:" is a javascript URL to them (WHATWG URL standard).
_C0_CONTROLS_AND_SPACE = ''.join(chr(code) for code in range(0x21))
_TAB_OR_NEWLINE = re.compile('[\t\n\r]')
_SCHEME = re.compile(r'([A-Za-z][A-Za-z0-9+.-]*):')


def url_scheme(href):
    """The scheme a browser reads in ``href`` (lower case), or None for a relative URL."""
    url = _TAB_OR_NEWLINE.sub('', href.strip(_C0_CONTROLS_AND_SPACE))
    match = _SCHEME.match(url)
    return match.group(1).lower() if match else None


class _Violations(HTMLParser):
    """Reads html and lists each way it breaks the rendering contract."""

    def __init__(self, html):
        super().__init__()
        self.found = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED_TAGS:
            self.found.append(f'tag <{tag}> is not allowed')
            return
        allowed = ALLOWED_ATTRIBUTES.get(tag, set()) | ({'rel'} if tag == 'a' else set())
        # A list, not a dict: a repeated attribute must not hide its first copy.
        for name, value in attrs:
            if name.startswith('on'):
                self.found.append(f'event handler {name}={value!r} on <{tag}>')
            elif name == 'style':
                self.found.append(f'style={value!r} on <{tag}>')
            elif name not in allowed:
                self.found.append(f'attribute {name}={value!r} is not allowed on <{tag}>')
            elif name == 'href':
                scheme = url_scheme(value or '')
                if scheme is not None and scheme not in SAFE_URL_SCHEMES:
                    self.found.append(f'href={value!r} has the scheme {scheme!r}')
        names = dict(attrs)
        if tag == 'a' and 'href' in names and 'nofollow' not in (names.get('rel') or '').split():
            self.found.append(f'link {names["href"]!r} has no rel="nofollow"')

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag not in ALLOWED_TAGS:
            self.found.append(f'end tag </{tag}> is not allowed')

    def handle_comment(self, data):
        self.found.append(f'comment <!--{data}-->')

    def handle_decl(self, decl):
        self.found.append(f'declaration <!{decl}>')

    def unknown_decl(self, data):
        self.found.append(f'declaration <![{data}]>')

    def handle_pi(self, data):
        self.found.append(f'processing instruction <?{data}>')


class _Links(HTMLParser):
    """The href of every link in html, as a browser reads it."""

    def __init__(self, html):
        super().__init__()
        self.hrefs = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get('href')
        if tag == 'a' and href is not None:
            self.hrefs.append(href)


def violations(html):
    """Every way ``html`` breaks the rendering contract; empty when it holds none."""
    return _Violations(html).found


def assert_rendering_is_inert(source):
    html = render_markdown(source)
    assert violations(html) == [], f'{source!r} rendered to {html!r}'


# Pieces that Markdown, HTML and URLs give meaning to, so that generated text
# reaches the parsers' interesting paths far more often than random text does.
MARKDOWN_PIECES = [
    *['*', '**', '_', '__', '~', '`', '``', '```', '\\', '!', '#', '# ', '> ', '- ', '1. ', '    '],
    *['[', ']', '(', ')', '<', '>', '&', '"', "'", '=', '/', ':', ';', ' ', '\t', '\n', '\n\n', '|'],
    *['[x]', '[x](', '](', '![', '[1]', '[1]: ', '\n\n[1]: ', '\n[x]: ', ' "title"', "'t'"],
    *['javascript:', 'JaVaScRiPt:', 'java\tscript:', 'java\nscript:', ' javascript:', '\x01javascript:'],
    *['vbscript:', 'data:', 'data:text/html,', 'data:text/html;base64,', 'file:', 'mailto:', 'tel:'],
    *['http://', 'https://', '//', 'www.', 'example.com', 'x@example.com', '/path', '?q=1', '#frag'],
    *['alert(1)', 'x', 'text', '%3A', '%0a', '\x00', '\x0b', '\x7f', '\u2028', '\ufeff', 'é', '\U0001f600'],
    *['&#106;', '&#x6A;', '&#0000106', '&#58;', '&#x3a;', '&colon;', '&Tab;', '&NewLine;', '&#9;', '&amp;'],
    *['<a href="', '<a href=', "<a href='", '<a title="', '</a>', '<b>', '</b>', '<i>', '<code>', '</code>'],
    *['<abbr title="', '<em', '<strong ', '<script>', '</script>', '<style>', '</style>', '<img src=x'],
    *['<svg', '<math>', '<iframe src=', '<object data=', '<embed src=', '<form action=', '<base href='],
    *['<meta ', '<link ', '<input ', '<p ', '<div>', '<textarea>', '<noscript>', '<template>', '<x '],
    *[' onerror=', ' onclick=', ' ONLOAD=', '/onmouseover=', ' style=', ' xlink:href=', ' formaction='],
    *['<!--', '-->', '--!>', '<![CDATA[', ']]>', '<!DOCTYPE html>', '<?xml ', '?>', '/>'],
]

markdown_fragment = st.one_of(st.sampled_from(MARKDOWN_PIECES), st.text(max_size=4))
markdown_text = st.lists(markdown_fragment, max_size=40).map(''.join)

# Known ways to smuggle script, styles or dangerous links through a Markdown
# sanitizer, written for this test.
XSS_VECTORS = [
    # Script elements, plain and disguised.
    '<script>alert(1)</script>',
    '<SCRIPT SRC=//evil.example/x.js></SCRIPT>',
    '<script/x>alert(1)</script>',
    '<scr<script>ipt>alert(1)</scr</script>ipt>',
    '<<script>script>alert(1)<</script>/script>',
    '<script>alert(1)',
    # Event handlers and styles, on forbidden and on allowed tags.
    '<img src=x onerror=alert(1)>',
    '<img src=x onerror=alert(1)//',
    '<b onmouseover="alert(1)">bold</b>',
    '<em/onmouseover=alert(1)>x</em>',
    '<strong ONCLICK=alert(1)>x</strong>',
    '<code onfocus=alert(1) autofocus tabindex=0>x</code>',
    '<abbr title="x" onpointerenter=alert(1)>x</abbr>',
    '<a href="https://example.com" onclick="alert(1)">x</a>',
    '<i style="width:expression(alert(1))">x</i>',
    '<a href="https://example.com" style="position:fixed;inset:0">cover</a>',
    '<a href="https://example.com" target="_blank">x</a>',
    '<body onload=alert(1)>',
    '<details open ontoggle=alert(1)>',
    '<video><source onerror=alert(1)></video>',
    '<input autofocus onfocus=alert(1)>',
    '<marquee onstart=alert(1)>x</marquee>',
    # Dangerous schemes in Markdown links.
    '[x](javascript:alert(1))',
    '[x](JAVASCRIPT:alert(1))',
    '[x](vbscript:msgbox(1))',
    '[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
    '[x](<javascript:alert(1)>)',
    '[x](javascript&#58;alert(1))',
    '[x](&#106;avascript:alert(1))',
    '[x](java&#x09;script:alert(1))',
    '[x](java&Tab;script:alert(1))',
    '[x]( javascript:alert(1))',
    '[x](\njavascript:alert(1))',
    '[x](javascript:alert(1) "title")',
    '[x](javascript://%0aalert(1))',
    '[x](https://example.com "\\" onmouseover=\\"alert(1)")',
    '- [x](javascript:alert(1))',
    # Reference-style links.
    '[x][1]\n\n[1]: javascript:alert(1)',
    '[x]\n\n[x]: vbscript:msgbox(1)',
    '[1]: data:text/html,<script>alert(1)</script>\n\n[click][1]',
    '[x][1]\n\n[1]: <javascript:alert(1)> "t"',
    # Autolinks and bare links.
    '<javascript:alert(1)>',
    '<JavaScript:alert(1)>',
    '<vbscript:msgbox(1)>',
    '<data:text/html,<script>alert(1)</script>>',
    '<http://x.example/"onmouseover="alert(1)>',
    'www.example.com/"onmouseover="alert(1)',
    'https://example.com/<script>alert(1)</script>',
    # Images.
    '![x](javascript:alert(1))',
    '![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)',
    '![x"onerror="alert(1)](x)',
    '[![x](x)](javascript:alert(1))',
    # Raw links with a disguised scheme.
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="java\tscript:alert(1)">x</a>',
    '<a href="jav&#x0A;ascript:alert(1)">x</a>',
    '<a href="java&#9;script:alert(1)">x</a>',
    '<a href="java&Tab;script:alert(1)">x</a>',
    '<a href="&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;&#x3A;alert(1)">x</a>',
    '<a href="&#0000106avascript:alert(1)">x</a>',
    '<a href="javascript&colon;alert(1)">x</a>',
    '<a href="\x01javascript:alert(1)">x</a>',
    '<a href=javascript:alert(1)>x</a>',
    "<a href='vbscript:msgbox(1)'>x</a>",
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<a href="javascript:alert(1)" href="https://example.com">x</a>',
    '<a xlink:href="javascript:alert(1)">x</a>',
    '<abbr title="&quot; onmouseover=&quot;alert(1)">x</abbr>',
    # Elements that run, load or restyle things.
    '<svg onload=alert(1)>',
    '<svg><a xlink:href="javascript:alert(1)"><text x="0" y="20">x</text></a></svg>',
    '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="data:text/html,<script>alert(1)</script>">',
    '<form action="javascript:alert(1)"><button>x</button></form>',
    '<button formaction="javascript:alert(1)">x</button>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    '<style>@import "https://evil.example/x.css";</style>',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<template><script>alert(1)</script></template>',
    # Nested and unclosed tags.
    '<b><i><a href="javascript:alert(1)">x',
    '<a href="https://example.com"<b onclick=alert(1)>x</b>',
    '<b <script>alert(1)</script>>',
    '*<img src=x onerror=alert(1)>*',
    '> <script>alert(1)</script>',
    '# <svg onload=alert(1)>',
    # Comments, CDATA, declarations.
    '<!--<img src=x onerror=alert(1)>-->',
    '<!-- --!><img src=x onerror=alert(1)> -->',
    '<!--[if IE]><script>alert(1)</script><![endif]-->',
    '<![CDATA[<script>alert(1)</script>]]>',
    '<?xml version="1.0"?><script>alert(1)</script>',
    '<!DOCTYPE html><script>alert(1)</script>',
    # HTML inside code, which must come out as text.
    '`<script>alert(1)</script>`',
    '`<img src=x onerror=alert(1)>`',
    '```\n<script>alert(1)</script>\n```',
    '    <script>alert(1)</script>',
    '<code><script>alert(1)</script></code>',
    '\\<script>alert(1)</script>',
]


@bounded_run
@given(st.text(max_size=200))
def test_rendered_html_of_any_text_holds_only_allowed_markup(source):
    assert_rendering_is_inert(source)


@bounded_run
@given(markdown_text)
def test_rendered_html_of_markdown_and_html_fragments_holds_only_allowed_markup(source):
    assert_rendering_is_inert(source)


@bounded_run
@given(markdown_text, st.sampled_from(XSS_VECTORS), markdown_text)
def test_an_xss_vector_inside_any_markdown_renders_inert(before, vector, after):
    assert_rendering_is_inert(before + vector + after)


@bounded_run
@given(st.lists(st.one_of(st.sampled_from(XSS_VECTORS), markdown_fragment), min_size=1, max_size=12))
def test_xss_vectors_mixed_with_each_other_render_inert(pieces):
    assert_rendering_is_inert(''.join(pieces))


@bounded_run
@given(st.lists(st.one_of(st.sampled_from(XSS_VECTORS), markdown_fragment), max_size=20).map(''.join))
def test_the_links_to_preview_are_the_first_distinct_http_links_a_browser_reads_in_the_html(source):
    html, links = render_message(source)

    readable = []
    for href in _Links(html).hrefs:
        if url_scheme(href) in ('http', 'https') and href not in readable:
            readable.append(href)
    assert links == readable[:MOST_PREVIEWS], f'{source!r} rendered to {html!r}'


@pytest.mark.parametrize('source', XSS_VECTORS)
def test_a_known_xss_vector_renders_inert(source):
    assert_rendering_is_inert(source)


@pytest.mark.parametrize(
    'html, violation',
    [
        ('<script>x</script>', 'tag <script> is not allowed'),
        ('<b onclick="x">y</b>', "event handler onclick='x' on <b>"),
        (
            '<a href="java&#9;script:x" rel="nofollow">y</a>',
            "href='java\\tscript:x' has the scheme 'javascript'",
        ),
        ('<a href="https://x.example">y</a>', 'link \'https://x.example\' has no rel="nofollow"'),
        ('<i title="t">y</i>', "attribute title='t' is not allowed on <i>"),
    ],
)
def test_the_checker_reports_what_it_is_meant_to_catch(html, violation):
    assert violation in violations(html)


def test_the_checker_accepts_what_the_sanitizer_is_meant_to_keep():
    html = render_markdown('*a* [b](https://b.example "t") [c](/relative) <abbr title="d">e</abbr> `f`')

    assert violations(html) == []
    assert html.count('<a ') == 2
