"""Markdown for untrusted text (model outputs, prompts) and admin-written instructions.

Raw HTML in the source is shown as text: the Markdown parser's raw-HTML rules are switched off,
so `<script>` in a model output reads as `<script>` on the page. nh3 (the Rust `ammonia`
sanitiser) then keeps only a fixed set of formatting tags and attributes, as a second line of
defence: no script, event handler, style or `javascript:` link reaches the browser."""
import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}


class _EscapeRawHtml(markdown.Extension):
    def extendMarkdown(self, md):  # noqa: N802 - python-markdown's name
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")


def markdown_to_safe_html(text: str) -> SafeString:
    html = markdown.markdown(
        text or "", extensions=["fenced_code", "tables", "sane_lists", _EscapeRawHtml()], output_format="html"
    )
    clean = nh3.clean(
        html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES,
        link_rel="nofollow noopener noreferrer",
    )
    return mark_safe(clean)  # sanitised by nh3 just above
