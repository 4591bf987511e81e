"""A page's storage-format body as the plain text the journal shows."""

from __future__ import annotations

from enttok_confluence.text import excerpt, plain_text


def test_blocks_become_lines_and_entities_are_read() -> None:
    storage = "<h1>Release&nbsp;plan</h1><p>Ship <strong>v2</strong> &amp; tell&#8230;</p><ul><li>one</li><li>two</li></ul>"
    assert plain_text(storage) == "Release plan\nShip v2 & tell…\none\ntwo"


def test_macros_keep_their_text_and_drop_their_parameters() -> None:
    storage = (
        '<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">python</ac:parameter>'
        "<ac:plain-text-body><![CDATA[print('a < b')]]></ac:plain-text-body></ac:structured-macro>"
        '<p>See <ac:link><ri:page ri:content-title="Runbook" /><ac:plain-text-link-body>'
        "<![CDATA[the runbook]]></ac:plain-text-link-body></ac:link>.</p>"
        "<ac:task-list><ac:task><ac:task-id>1</ac:task-id><ac:task-status>incomplete</ac:task-status>"
        "<ac:task-body>Call Bob</ac:task-body></ac:task></ac:task-list>"
    )
    assert plain_text(storage) == "print('a < b')\nSee the runbook.\nCall Bob"


def test_markup_that_fools_a_pattern_is_read_as_markup() -> None:
    storage = (
        '<p title="a > b">kept</p><!-- <p>a comment</p> --><script>var x = "<p>no</p>";</script><p>also</p>'
    )
    assert plain_text(storage) == "kept\nalso"


def test_excerpt_is_one_line_cut_at_a_word() -> None:
    storage = "<p>" + " ".join(f"word{n}" for n in range(100)) + "</p><p>second</p>"
    cut = excerpt(storage, length=40)
    assert cut == "word0 word1 word2 word3 word4 word5…"
    assert excerpt(storage, length=35) == "word0 word1 word2 word3 word4 word5…"  # ends at the limit
    assert excerpt("<p>short</p><p>body</p>") == "short body"
    assert excerpt("") is None and excerpt(None) is None and excerpt("<p> </p>") is None
