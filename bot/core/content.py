"""Loading and validating the topic files in content/<lang>/ (front matter + body).

Hotlines, key dates and prices are defined once in content/facts.yml and written `{{name}}`
in texts; loading puts the values in, so every answer, the phone check, the help line, the
leaflet and the loudspeaker script state the same value. Each fact and each topic carries a
`review_by` date: `review_problems` lists what is overdue (check-content fails on it)."""
from __future__ import annotations

import copy
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from bot.core.evaluation import LabelledSetError, load_labelled
from bot.core.kept import Kept

REQUIRED_TOPICS = ("reason", "timeline", "affected", "switch", "keep_number", "support",
                   "cost", "after_shutdown", "coverage", "contact", "scams", "at_sea",
                   "helping_family", "other_devices")
CHECK_ID = "check"
VERDICTS = ("affected", "no_volte", "probably_fine", "check_carrier")
FACTS_FILE = "facts.yml"
TRAINING_FILE = "training-{lang}.jsonl"
_FACT_REF = re.compile(r"\{\{\s*([A-Za-z0-9_.-]*)\s*\}\}")
_FACT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TOPIC_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$")
MAX_BODY = 1500          # well under Telegram's 4096 and readable on a phone
MAX_MENU_LABEL = 28


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that keeps dates as text, so a wrong date gets our message, not a crash.
    LibYAML's parser where PyYAML has it (its wheels do): every start of Loa reads a few
    hundred front matters, and the pure-Python parser took most of a second for them."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


_PARSED: dict[str, object] = {}   # front matter text -> what it parsed to (see _yaml)


def _yaml(text: str) -> object:
    """Parsed YAML, as a copy of its own. Each start of Loa, and each reload of the
    translations after a review, reads the same few hundred front matters, most unchanged;
    the Python half of the parser took most of that time, a copy takes a twentieth of it."""
    if text not in _PARSED:
        parsed = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
        if len(_PARSED) >= 8192:
            _PARSED.clear()
        _PARSED[text] = parsed
    return copy.deepcopy(_PARSED[text])


class ContentError(Exception):
    """A content file is wrong; the message names the file and the field."""

    def __init__(self, path: Path | str, field_name: str, message: str) -> None:
        self.path = str(path)
        self.field_name = field_name
        self.message = message
        super().__init__(f"{self.path}: {field_name}: {message}")


@dataclass(frozen=True, slots=True)
class Source:
    url: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Fact:
    """One hotline, date, price or name, stated once and referred to as {{name}}."""

    name: str
    value: str              # as written in answers ("1800 8098", "15/9/2026")
    source: str
    note: str
    as_of: dt.date
    review_by: dt.date


Facts = dict[str, Fact]


@dataclass(frozen=True, slots=True)
class Topic:
    id: str
    title: str
    menu_label: str
    version: int
    as_of: dt.date
    sources: tuple[Source, ...]
    samples: tuple[str, ...]
    keywords: tuple[str, ...]
    related: tuple[str, ...]
    body: str
    audio: str | None = None
    review_by: dt.date | None = None
    facts: tuple[str, ...] = ()      # names of the facts.yml entries the texts use

    @property
    def parent(self) -> str | None:
        return self.id.split(".", 1)[0] if "." in self.id else None


@dataclass(frozen=True, slots=True)
class CheckOption:
    id: str
    label: str


@dataclass(frozen=True, slots=True)
class CheckQuestion:
    id: str
    text: str
    options: tuple[CheckOption, ...]


@dataclass(frozen=True, slots=True)
class PhoneCheck:
    title: str
    menu_label: str
    as_of: dt.date
    intro: str
    questions: tuple[CheckQuestion, ...]
    verdicts: dict[str, str]
    review_by: dt.date | None = None
    facts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ContentSet:
    """Everything a conversation needs to answer in one language."""

    lang: str
    topics: dict[str, Topic]
    menu: tuple[str, ...]            # topic ids and "check", in menu order
    check: PhoneCheck
    help_line: str                    # one line with the free hotlines
    # Minority languages: ids of topics (and "check") served from an approved, current
    # translation; everything else in the set is the Vietnamese text
    # (bot/features/translations/rules.py).
    translated: frozenset[str] = frozenset()
    facts: dict[str, Fact] | None = None   # content/facts.yml (Vietnamese set)
    # Written training questions (text, topic or None), content/training-vi.jsonl.
    training: tuple[tuple[str, str | None], ...] = ()
    help_facts: tuple[str, ...] = ()       # the facts the help line uses

    def menu_label(self, item: str) -> str:
        return self.check.menu_label if item == CHECK_ID else self.topics[item].menu_label


def _split_front_matter(path: Path, raw: str) -> tuple[dict[str, object], str]:
    if not raw.startswith("---\n"):
        raise ContentError(path, "front matter", "file must start with a '---' line")
    end = raw.find("\n---", 4)
    if end < 0:
        raise ContentError(path, "front matter", "no closing '---' line")
    try:
        meta = _yaml(raw[4:end])
    except yaml.YAMLError as exc:
        message = f"not valid YAML ({exc.__class__.__name__})"
        raise ContentError(path, "front matter", message) from None
    if not isinstance(meta, dict):
        raise ContentError(path, "front matter", "must be a mapping of fields")
    body = raw[end + 4:].lstrip("-").strip("\n")
    return meta, body.strip()


def _str(path: Path, meta: dict[str, object], key: str, *, limit: int | None = None) -> str:
    value = meta.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ContentError(path, key, "missing or not a text")
    if limit is not None and len(value) > limit:
        raise ContentError(path, key, f"longer than {limit} characters")
    _check_nfc(path, key, value)
    return value.strip()


def _strs(path: Path, meta: dict[str, object], key: str, *, minimum: int) -> tuple[str, ...]:
    value = meta.get(key, [])
    if value is None:
        value = []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ContentError(path, key, "must be a list of texts")
    if len(value) < minimum:
        raise ContentError(path, key, f"needs at least {minimum} entries")
    for v in value:
        _check_nfc(path, key, v)
    return tuple(v.strip() for v in value)


def _any_date(path: Path, meta: dict[str, object], key: str, missing: str) -> dt.date:
    value = meta.get(key)
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise ContentError(path, key, f"'{value}' is not a date YYYY-MM-DD") from None
    if not isinstance(value, dt.date):
        raise ContentError(path, key, missing)
    return value


def _date(path: Path, meta: dict[str, object], key: str, today: dt.date) -> dt.date:
    value = _any_date(path, meta, key, "missing or not a date YYYY-MM-DD")
    if value > today:
        raise ContentError(path, key, f"{value.isoformat()} is in the future")
    return value


def _review_by(path: Path, meta: dict[str, object], key: str = "review_by") -> dt.date:
    """A date the text must be checked again by: in the future when written, so not checked
    against today here (`review_problems` reports the overdue ones)."""
    return _any_date(path, meta, key, "missing or not a date YYYY-MM-DD (when to check again)")


def load_facts(path: Path, today: dt.date) -> Facts:
    """content/facts.yml: `facts: {name: {value | date, source, note, as_of, review_by}}`."""
    try:
        meta = _yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ContentError(path, "file", f"not valid YAML ({exc.__class__.__name__})") from None
    entries = meta.get("facts") if isinstance(meta, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise ContentError(path, "facts", "needs a 'facts:' mapping of name -> fact")
    facts: Facts = {}
    for name, entry in entries.items():
        where = f"facts.{name}"
        if not isinstance(name, str) or not _FACT_NAME.match(name):
            raise ContentError(path, where, "a fact name is lowercase a-z, 0-9 and _")
        if not isinstance(entry, dict):
            raise ContentError(path, where, "must be a mapping (value, source, as_of, review_by)")
        if "date" in entry:
            day = _review_by(path, entry, "date")
            value = f"{day.day}/{day.month}/{day.year}"
        else:
            value = _str(path, entry, "value")
        source = entry.get("source")
        facts[name] = Fact(
            name=name, value=value, source=source.strip() if isinstance(source, str) else "",
            note=str(entry.get("note") or ""), as_of=_date(path, entry, "as_of", today),
            review_by=_review_by(path, entry))
    return facts


def fill(path: Path, field_name: str, text: str, facts: Facts | None,
         used: list[str] | None = None) -> str:
    """`text` with each {{name}} replaced by its fact's value; names go to `used`."""
    if "{{" not in text and "}}" not in text:
        return text
    if facts is None:
        raise ContentError(path, field_name, "uses {{…}} but there is no facts.yml")

    def value(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in facts:
            raise ContentError(path, field_name, f"unknown fact '{{{{{name}}}}}' "
                               f"(define it in {FACTS_FILE})")
        if used is not None and name not in used:
            used.append(name)
        return facts[name].value

    out = _FACT_REF.sub(value, text)
    if "{{" in out or "}}" in out:
        raise ContentError(path, field_name, "a '{{' or '}}' does not form a {{fact_name}}")
    return out


def _version(path: Path, meta: dict[str, object]) -> int:
    value = meta.get("version")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ContentError(path, "version", "missing or not a whole number ≥ 1")
    return value


def _sources(path: Path, meta: dict[str, object]) -> tuple[Source, ...]:
    value = meta.get("sources")
    if not isinstance(value, list) or not value:
        raise ContentError(path, "sources", "at least one source is required")
    sources = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("url"), str) \
                or not item["url"].strip():
            raise ContentError(path, f"sources[{i}]", "each source needs a 'url'")
        note = item.get("note", "")
        sources.append(Source(url=item["url"].strip(), note=str(note or "")))
    return tuple(sources)


def _check_nfc(path: Path, key: str, text: str) -> None:
    if not unicodedata.is_normalized("NFC", text):
        raise ContentError(path, key, "text is not Unicode NFC (re-save it normalised)")


def load_topic(path: Path, today: dt.date, facts: Facts | None = None) -> Topic:
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ContentError(path, "file", "not UTF-8 text") from None
    meta, body = _split_front_matter(path, raw)
    topic_id = _str(path, meta, "id")
    if not _TOPIC_ID.match(topic_id):
        raise ContentError(path, "id", f"'{topic_id}' is not a valid id (a-z, 0-9, _ and one '.')")
    if topic_id != path.name.removesuffix(".md"):
        raise ContentError(path, "id", f"'{topic_id}' does not match the file name")
    if not body:
        raise ContentError(path, "body", "the answer text is empty")
    used: list[str] = []
    body = fill(path, "body", body, facts, used)
    title = fill(path, "title", _str(path, meta, "title"), facts, used)
    if len(body) > MAX_BODY:
        raise ContentError(path, "body", f"{len(body)} characters; keep it under {MAX_BODY}")
    _check_nfc(path, "body", body)
    related = _strs(path, meta, "related", minimum=0)
    audio = meta.get("audio")
    if audio is not None and not isinstance(audio, str):
        raise ContentError(path, "audio", "must be a file path or null")
    return Topic(
        id=topic_id, title=title,
        menu_label=_str(path, meta, "menu_label", limit=MAX_MENU_LABEL),
        version=_version(path, meta), as_of=_date(path, meta, "as_of", today),
        sources=_sources(path, meta), samples=_strs(path, meta, "samples", minimum=3),
        keywords=_strs(path, meta, "keywords", minimum=0), related=related, body=body,
        audio=audio, review_by=_review_by(path, meta), facts=tuple(used),
    )


def load_check(path: Path, today: dt.date, facts: Facts | None = None) -> PhoneCheck:
    try:
        meta = _yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ContentError(path, "file", f"not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(meta, dict):
        raise ContentError(path, "file", "must be a mapping of fields")
    _sources(path, meta)
    used: list[str] = []

    def text(where: dict[str, object], key: str, name: str) -> str:
        return fill(path, name, _str(path, where, key), facts, used)

    questions = []
    raw_questions = meta.get("questions")
    if not isinstance(raw_questions, list) or not 2 <= len(raw_questions) <= 4:
        raise ContentError(path, "questions", "needs 2 to 4 questions")
    for i, q in enumerate(raw_questions):
        if not isinstance(q, dict):
            raise ContentError(path, f"questions[{i}]", "must be a mapping")
        options = q.get("options")
        if not isinstance(options, list) or len(options) < 2:
            raise ContentError(path, f"questions[{i}].options", "needs at least 2 options")
        opts = []
        for j, o in enumerate(options):
            if not isinstance(o, dict) or not all(isinstance(o.get(k), str)
                                                  for k in ("id", "label")):
                raise ContentError(path, f"questions[{i}].options[{j}]",
                                   "needs 'id' and 'label'")
            opts.append(CheckOption(id=o["id"], label=o["label"]))
        questions.append(CheckQuestion(id=_str(path, q, "id"),
                                       text=text(q, "text", f"questions[{i}].text"),
                                       options=tuple(opts)))
    verdicts = meta.get("verdicts")
    if not isinstance(verdicts, dict):
        raise ContentError(path, "verdicts", "missing")
    filled = {str(key): text(verdicts, key, f"verdicts.{key}") for key in VERDICTS}
    return PhoneCheck(
        title=text(meta, "title", "title"),
        menu_label=_str(path, meta, "menu_label", limit=MAX_MENU_LABEL),
        as_of=_date(path, meta, "as_of", today), intro=text(meta, "intro", "intro"),
        questions=tuple(questions), verdicts=filled, review_by=_review_by(path, meta),
        facts=tuple(used),
    )


def load_content(root: Path, lang: str = "vi", today: dt.date | None = None) -> ContentSet:
    """Load and cross-check content/<lang>/; raises ContentError on the first problem.
    An overdue review_by does not stop Loa (check-content and the admin page report it).

    Each app (and the test suite builds hundreds) loads the same unchanged files: the result
    is kept in the process by the files (bot/core/kept.py) and the day, and each caller gets
    its own copy of the set's dicts, so no two callers share anything they could change."""
    today = today or dt.date.today()
    content = _KEPT(lambda: _checked(root, lang, today), lambda: _files(root, lang), lang, today)
    # The clips the topics name are checked by validate_content but are not in the key.
    if any(t.audio and not (root / "media" / t.audio).is_file() for t in content.topics.values()):
        return _checked(root, lang, today)   # raises the ContentError naming the clip
    # Topics, facts, sources and training are frozen; the dicts holding them are copied.
    return replace(content, topics=dict(content.topics),
                   facts=None if content.facts is None else dict(content.facts),
                   check=replace(content.check, verdicts=dict(content.check.verdicts)))


# Never handed out as it is (a ContentSet holds dicts), see load_content.
_KEPT: Kept[ContentSet] = Kept(8)


def _files(root: Path, lang: str) -> tuple[Path, ...]:
    """Every file a content set is read from (`_checked`), in a fixed order."""
    folder = root / lang
    return (root / FACTS_FILE, folder / "check.yml", folder / "menu.yml",
            root / TRAINING_FILE.format(lang=lang), *sorted(folder.glob("*.md")))


def _checked(root: Path, lang: str, today: dt.date) -> ContentSet:
    problems = validate_content(root, lang, today, reviews=False)
    if problems:
        raise problems[0]
    return _load(root, lang, today)


def _facts_or_problem(root: Path, today: dt.date,
                      problems: list[ContentError]) -> Facts | None:
    path = root / FACTS_FILE
    if not path.is_file():
        problems.append(ContentError(path, "file", "facts file missing"))
        return None
    try:
        facts = load_facts(path, today)
    except ContentError as exc:
        problems.append(exc)
        return None
    for fact in facts.values():
        if not fact.source:
            problems.append(ContentError(path, f"facts.{fact.name}.source",
                                         "every fact needs the source it comes from"))
    return facts


def validate_content(root: Path, lang: str = "vi", today: dt.date | None = None, *,
                     reviews: bool = True) -> list[ContentError]:
    """Every problem found in content/<lang>/, each naming its file and field; with
    `reviews`, also every fact and text whose review_by date has passed."""
    today = today or dt.date.today()
    folder = root / lang
    problems: list[ContentError] = []
    if not folder.is_dir():
        return [ContentError(folder, "folder", "content folder is missing")]
    facts = _facts_or_problem(root, today, problems)
    topics: dict[str, Topic] = {}
    for path in sorted(folder.glob("*.md")):
        try:
            topic = load_topic(path, today, facts)
        except ContentError as exc:
            problems.append(exc)
            continue
        topics[topic.id] = topic
    for required in REQUIRED_TOPICS:
        if required not in topics and not any(p.path.endswith(f"/{required}.md")
                                              for p in problems):
            problems.append(ContentError(folder / f"{required}.md", "file",
                                         "required topic missing"))
    seen_samples: dict[str, str] = {}
    for topic in topics.values():
        path = folder / f"{topic.id}.md"
        if topic.parent and topic.parent not in REQUIRED_TOPICS:
            problems.append(ContentError(path, "id", f"parent topic '{topic.parent}' is unknown"))
        for rel in topic.related:
            if rel not in topics and rel != CHECK_ID:
                problems.append(ContentError(path, "related", f"links to unknown topic '{rel}'"))
        if topic.audio and not (root / "media" / topic.audio).is_file():
            problems.append(ContentError(path, "audio", f"file '{topic.audio}' not found"))
        for sample in topic.samples:
            key = " ".join(sample.lower().split())
            if key in seen_samples and seen_samples[key] != topic.id:
                problems.append(ContentError(
                    path, "samples", f"'{sample}' is also a sample of '{seen_samples[key]}'"))
            seen_samples[key] = topic.id
    check: PhoneCheck | None = None
    try:
        check = load_check(folder / "check.yml", today, facts)
    except FileNotFoundError:
        problems.append(ContentError(folder / "check.yml", "file", "phone check file missing"))
    except ContentError as exc:
        problems.append(exc)
    try:
        menu, _, _ = _load_menu(folder / "menu.yml", facts)
        for item in menu:
            if item != CHECK_ID and item not in topics:
                problems.append(ContentError(folder / "menu.yml", "items",
                                             f"unknown topic '{item}'"))
    except FileNotFoundError:
        problems.append(ContentError(folder / "menu.yml", "file", "menu file missing"))
    except ContentError as exc:
        problems.append(exc)
    if reviews:
        problems += _overdue(root, folder, facts or {}, topics, check, today)
    return problems


def _overdue(root: Path, folder: Path, facts: Facts, topics: dict[str, Topic],
             check: PhoneCheck | None, today: dt.date) -> list[ContentError]:
    out = []
    for fact in facts.values():
        if fact.review_by < today:
            out.append(ContentError(root / FACTS_FILE, f"facts.{fact.name}.review_by",
                                    f"review was due on {fact.review_by.isoformat()}: check "
                                    "the source, then update value, as_of and review_by"))
    dated: list[tuple[Path, dt.date | None]] = [
        (folder / f"{t.id}.md", t.review_by) for t in topics.values()]
    if check is not None:
        dated.append((folder / "check.yml", check.review_by))
    for path, due in dated:
        if due is not None and due < today:
            out.append(ContentError(path, "review_by", f"review was due on {due.isoformat()}: "
                                    "check the text, then update as_of and review_by"))
    return out


def review_problems(root: Path, lang: str = "vi",
                    today: dt.date | None = None) -> list[ContentError]:
    """Only the overdue reviews and facts without a source (for the admin page)."""
    today = today or dt.date.today()
    content = _load(root, lang, today)
    problems: list[ContentError] = []
    _facts_or_problem(root, today, problems)
    return problems + _overdue(root, root / lang, content.facts or {}, content.topics,
                               content.check, today)


def _load_menu(path: Path, facts: Facts | None = None,
               ) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    try:
        meta = _yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ContentError(path, "file", f"not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(meta, dict):
        raise ContentError(path, "file", "must be a mapping of fields")
    items = _strs(path, meta, "items", minimum=1)
    if len(set(items)) != len(items):
        raise ContentError(path, "items", "an item is listed twice")
    used: list[str] = []
    help_line = fill(path, "help_line", _str(path, meta, "help_line"), facts, used)
    return items, help_line, tuple(used)


def _load(root: Path, lang: str, today: dt.date) -> ContentSet:
    folder = root / lang
    facts = load_facts(root / FACTS_FILE, today) if (root / FACTS_FILE).is_file() else None
    topics = {t.id: t for t in (load_topic(p, today, facts) for p in sorted(folder.glob("*.md")))}
    menu, help_line, help_facts = _load_menu(folder / "menu.yml", facts)
    return ContentSet(lang=lang, topics=topics, menu=menu,
                      check=load_check(folder / "check.yml", today, facts), help_line=help_line,
                      facts=facts, help_facts=help_facts,
                      training=load_training(root / TRAINING_FILE.format(lang=lang)))


def load_training(path: Path) -> tuple[tuple[str, str | None], ...]:
    """Training questions, JSON Lines {"text": ..., "topic": id or null}, read like the
    evaluation sets (`evaluation.load_labelled`); none if the file is absent."""
    if not path.is_file():
        return ()
    try:
        return tuple((item.text, item.topic) for item in load_labelled(path))
    except LabelledSetError as exc:
        raise ContentError(path, f"line {exc.line}", exc.reason) from None
