"""The `markdown` template filter: a DAG's doc_md as HTML, with raw HTML in it escaped (CommonMark)."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markupsafe import Markup

from webui.ui import ui_blueprint

# "html": False escapes any HTML the author wrote; markdown-it refuses javascript: and data: links itself
_MD = MarkdownIt("commonmark", {"html": False, "linkify": False})


@ui_blueprint.app_template_filter("markdown")
def markdown(text: str | None) -> Markup:
    return Markup(_MD.render(text or ""))  # noqa: S704 - the renderer escapes everything it does not produce
