"""The page templates (web/pages.py): how values are shown."""

from __future__ import annotations

import html
import json
import re

from forwardpass.web.pages import Pages


def test_the_try_it_answer_shows_characters_as_they_are():
    """A model's answer with `<`, `&` or accents reads as it is, not as \\u003c."""
    templates = Pages(None, None, None).templates  # type: ignore[arg-type]
    template = templates.env.get_template("deployment.html")
    answer = {"label": "<b>x & y</b> é"}
    source = templates.env.loader.get_source(templates.env, "deployment.html")[0]  # type: ignore[union-attr]
    block = re.search(r'<pre id="try-answer"[^>]*>(.*?)</pre>', source, re.S)
    assert block is not None and template is not None
    shown = templates.env.from_string(block.group(1)).render(try_answer=answer)
    assert "\\u003c" not in shown and "&lt;b&gt;" in shown
    assert json.loads(html.unescape(shown)) == answer
