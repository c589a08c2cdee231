"""Every text a console template names by its key is in the table, in both languages: a key
missing from it is shown to the guard as itself (the 用户 page's own row read
「users.you」, the key having been lost from api/console/i18n.py in a merge)."""

from __future__ import annotations

import re

from api.console.i18n import _TEXTS
from tests.conftest import ROOT

# t('users.you') or t("review.more", n=…): a key written out; keys built from values
# (t('code.' ~ kind)) are checked where their values are (test_console_code_labels.py).
NAMED_KEY = re.compile(r"""\bt\(\s*(['"])([A-Za-z0-9_.]+)\1\s*[,)]""")


def test_every_key_a_template_names_is_in_the_text_table() -> None:
    named: dict[str, set[str]] = {}
    for template in sorted((ROOT / "api" / "templates").rglob("*.html")):
        for match in NAMED_KEY.finditer(template.read_text(encoding="utf-8")):
            named.setdefault(match.group(2), set()).add(template.name)
    assert len(named) > 100  # the pattern still finds the templates' keys
    missing = {key: sorted(where) for key, where in named.items() if key not in _TEXTS}
    assert missing == {}
    for key in named:
        zh, en = _TEXTS[key]
        assert zh and en, key
