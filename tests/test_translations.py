"""The Configuration tab's option names and descriptions, in every language the add-on ships."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from conftest import ADDON_DIR

TRANSLATIONS = ADDON_DIR / "translations"
LANGUAGES = ("en", "es", "de", "nl", "it", "fr")
TRANSLATED = tuple(language for language in LANGUAGES if language != "en")
MAX_LINE = 100
MIN_WORDS = 10
URL = re.compile(r"https?://\S+|mqtt://\S+")
PORTAL = "developer-api.isolarcloud.com"
# Punctuation that ends the sentence around a URL rather than the URL itself.
TRAILING = ".,;:!?)\"'»“”"


def raw(language: str) -> str:
    """The text of translations/<language>.yaml."""
    return (TRANSLATIONS / f"{language}.yaml").read_text(encoding="utf-8")


def load(language: str) -> Any:
    """translations/<language>.yaml, parsed."""
    return yaml.safe_load(raw(language))


def configuration(language: str) -> dict[str, Any]:
    """The `configuration` mapping of a language: option key to name and description."""
    entries: dict[str, Any] = load(language)["configuration"]
    return entries


def schema_keys() -> set[str]:
    """The options the add-on's config.yaml offers."""
    config = yaml.safe_load((ADDON_DIR / "config.yaml").read_text(encoding="utf-8"))
    return set(config["schema"])


def description_problems(description: Any) -> list[str]:
    """What is wrong with a description: not text, lower-case start, no full stop, too short."""
    if not isinstance(description, str) or not description.strip():
        return ["not a non-empty text"]
    problems = []
    if not description[0].isupper():
        problems.append("does not start with an upper-case letter")
    if not description.endswith("."):
        problems.append("does not end with a full stop")
    if len(description.split()) < MIN_WORDS:
        problems.append(f"has fewer than {MIN_WORDS} words")
    return problems


def verbatim_tokens(text: str) -> set[str]:
    """The URLs (without the sentence's trailing punctuation) and portal host name in a text."""
    tokens = {match.rstrip(TRAILING) for match in URL.findall(text)}
    if PORTAL in text:
        tokens.add(PORTAL)
    return tokens


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_language_file_exists_and_starts_the_document(language: str) -> None:
    """translations/<language>.yaml is there and opens with `---`, as yamllint requires."""
    path = TRANSLATIONS / f"{language}.yaml"

    assert path.is_file()
    assert raw(language).startswith("---\n")


@pytest.mark.parametrize("language", LANGUAGES)
def test_only_the_configuration_is_translated(language: str) -> None:
    """The file holds one mapping, `configuration`, and nothing the Supervisor would ignore."""
    data = load(language)

    assert isinstance(data, dict)
    assert set(data) == {"configuration"}
    assert isinstance(data["configuration"], dict)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_option_of_the_schema_is_translated(language: str) -> None:
    """The translated options are exactly the schema's: none missing, none left over."""
    assert set(configuration(language)) == schema_keys()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_option_has_a_name_and_a_description(language: str) -> None:
    """Each entry is a non-empty name and a description that reads as sentences."""
    for key, entry in configuration(language).items():
        assert isinstance(entry, dict), key
        assert set(entry) == {"name", "description"}, key
        assert isinstance(entry["name"], str), key
        assert entry["name"].strip(), key
        assert description_problems(entry["description"]) == [], key


@pytest.mark.parametrize("language", LANGUAGES)
def test_lines_fit_the_line_length(language: str) -> None:
    """No line is longer than the repository's 100 characters."""
    long_lines = [
        number
        for number, line in enumerate(raw(language).splitlines(), start=1)
        if len(line) > MAX_LINE
    ]

    assert long_lines == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_what_the_user_types_is_kept_verbatim(language: str) -> None:
    """Every URL and the portal's host name of an English description is in its translation."""
    english, translated = configuration("en"), configuration(language)

    for key, entry in english.items():
        expected = verbatim_tokens(entry["description"])
        assert expected <= verbatim_tokens(translated[key]["description"]), key


def test_no_language_copies_another() -> None:
    """No two languages share a description: a copy of the English is a forgotten translation."""
    translations = {language: configuration(language) for language in LANGUAGES}

    for key in schema_keys():
        seen: dict[str, str] = {}
        for language, entries in translations.items():
            text = " ".join(str(entries.get(key, {}).get("description", "")).split())
            assert text not in seen, f"{key}: {language} repeats {seen.get(text)}"
            seen[text] = language


@pytest.mark.parametrize(
    "description",
    [
        None,
        "",
        "the AppKey of your application in the iSolarCloud developer portal, as shown there.",
        "The AppKey of your application in the iSolarCloud developer portal, as shown there",
        "The AppKey of your application.",
    ],
)
def test_the_description_rules_catch_a_bad_description(description: str | None) -> None:
    """The rules the files are held to reject each kind of broken description."""
    assert description_problems(description) != []


def test_the_description_rules_accept_a_good_description() -> None:
    """A sentence of ten words or more, capitalised and with a full stop, passes (any script)."""
    assert (
        description_problems("Über zehn Wörter: ein gültiger Satz, der die Regel gut erfüllt.")
        == []
    )


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        (
            "Such as https://gateway.isolarcloud.eu, used instead.",
            {"https://gateway.isolarcloud.eu"},
        ),
        (
            "As mqtt://user:password@host:1883 (mqtts:// for TLS).",
            {"mqtt://user:password@host:1883"},
        ),
        ("(developer-api.isolarcloud.com, Applications)", {PORTAL}),
        ('Shows "Request is not encrypted (E902)".', set()),
    ],
)
def test_verbatim_tokens_are_found(text: str, tokens: set[str]) -> None:
    """URLs lose only the sentence's punctuation; the portal's host name is found bare."""
    assert verbatim_tokens(text) == tokens
