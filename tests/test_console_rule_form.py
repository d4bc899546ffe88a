"""The rule editor's client-side checks (``static/js/rule_form.js``) use the server's words
and bounds (``toolbox/alerts/rules.py``): the conditions, metrics, operators, classes and
limits are read out of the module's source and compared, so neither can change alone; and
each message the form says next to a field is the server's own for the same value."""

import pathlib
import re

import pytest

from toolbox.alerts import rules
from toolbox.errors import ValidationError
from toolbox.watch import points

SOURCE = (pathlib.Path(__file__).resolve().parent.parent / "static" / "js" / "rule_form.js").read_text()


def js_list(name):
    """The first strings of each entry of ``export const NAME = [...]``."""
    body = re.search(rf"export const {name} = \[(.*?)\];", SOURCE, re.S).group(1)
    if body.lstrip().startswith("["):
        return re.findall(r'\[\s*"([^"]+)"', body)
    return re.findall(r'"([^"]+)"', body)


def js_number(name):
    expression = re.search(rf"export const {name} = ([0-9 *]+);", SOURCE).group(1)
    value = 1
    for factor in expression.split("*"):
        value *= int(factor)
    return value


def test_the_forms_choices_and_limits_are_the_servers():
    assert js_list("METRICS") == list(rules.METRICS)
    assert js_list("OPS") == list(rules.OPS)
    assert js_list("HTTP_CLASSES") == list(rules.HTTP_CLASSES)
    assert js_list("CHANGES") == list(rules.CHANGES)
    assert js_list("CONDITIONS") == [*rules.OUTCOMES, "metric", "http_class", "changed", "tcp", "dns_expected"]
    assert js_number("MAX_EXPECTED") == points.MAX_EXPECTED
    assert js_number("MAX_ANSWER_CHARS") == points.MAX_ANSWER_CHARS
    assert js_number("MAX_ROUNDS") == rules.MAX_ROUNDS
    assert js_number("MAX_CHANNELS") == rules.MAX_CHANNELS
    assert js_number("MAX_REMIND_MINUTES") == rules.MAX_REMIND_MINUTES
    with pytest.raises(ValidationError, match="1 to 10000"):
        rules.rule_fields({"when": {"outcome": "failed"}, "min_agents": js_number("MAX_AGENTS") + 1})
    rules.rule_fields({"when": {"outcome": "failed"}, "min_agents": js_number("MAX_AGENTS")})


@pytest.mark.parametrize("body, field", [
    ({"rounds": 3, "of_rounds": 2}, "rounds"),
    ({"of_rounds": 1000}, "of_rounds"),
    ({"clear_after": 0}, "clear_after"),
    ({"remind_every": -1}, "remind_every"),
    ({"min_agents": 0}, "min_agents"),
    ({"min_pct": 150}, "min_pct"),
    ({"name": "x" * 101}, "name"),
    ({"when": {"dns_expected": []}}, "when.dns_expected"),
])
def test_each_message_the_form_says_is_the_servers(body, field):
    with pytest.raises(ValidationError) as refused:
        rules.rule_fields(dict({"when": {"outcome": "failed"}}, **body))
    prefix, text = str(refused.value).split(": ", 1)
    assert prefix == field
    said = text.replace(" (or null)", "")  # the form has no "null" to offer
    if said.startswith("a whole number from"):
        assert "`a whole number from ${low} to ${high}`" in SOURCE
    elif field == "when.dns_expected":
        assert said == f"a list of 1 to {points.MAX_EXPECTED} answers (addresses or names)"
        assert "`a list of 1 to ${MAX_EXPECTED} answers (addresses or names)`" in SOURCE
    else:
        assert f'"{said}"' in SOURCE, said
