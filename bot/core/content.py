"""Loading and validating the topic files in content/<lang>/ (front matter + body)."""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

REQUIRED_TOPICS = ("reason", "timeline", "affected", "switch", "keep_number", "support",
                   "cost", "after_shutdown", "coverage", "contact")
CHECK_ID = "check"
VERDICTS = ("affected", "probably_fine", "check_carrier")
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


def _yaml(text: str) -> object:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)


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


@dataclass(frozen=True, slots=True)
class ContentSet:
    """Everything a conversation needs to answer in one language."""

    lang: str
    topics: dict[str, Topic]
    menu: tuple[str, ...]            # topic ids and "check", in menu order
    check: PhoneCheck
    help_line: str                    # one line with the free hotlines
    # Minority languages: ids of topics (and "check") served from an approved, current
    # translation; everything else in the set is the Vietnamese text (bot/translations.py).
    translated: frozenset[str] = frozenset()

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


def _date(path: Path, meta: dict[str, object], key: str, today: dt.date) -> dt.date:
    value = meta.get(key)
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise ContentError(path, key, f"'{value}' is not a date YYYY-MM-DD") from None
    if not isinstance(value, dt.date):
        raise ContentError(path, key, "missing or not a date YYYY-MM-DD")
    if value > today:
        raise ContentError(path, key, f"{value.isoformat()} is in the future")
    return value


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


def load_topic(path: Path, today: dt.date) -> Topic:
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
    if len(body) > MAX_BODY:
        raise ContentError(path, "body", f"{len(body)} characters; keep it under {MAX_BODY}")
    _check_nfc(path, "body", body)
    related = _strs(path, meta, "related", minimum=0)
    audio = meta.get("audio")
    if audio is not None and not isinstance(audio, str):
        raise ContentError(path, "audio", "must be a file path or null")
    return Topic(
        id=topic_id, title=_str(path, meta, "title"),
        menu_label=_str(path, meta, "menu_label", limit=MAX_MENU_LABEL),
        version=_version(path, meta), as_of=_date(path, meta, "as_of", today),
        sources=_sources(path, meta), samples=_strs(path, meta, "samples", minimum=3),
        keywords=_strs(path, meta, "keywords", minimum=0), related=related, body=body,
        audio=audio,
    )


def load_check(path: Path, today: dt.date) -> PhoneCheck:
    try:
        meta = _yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ContentError(path, "file", f"not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(meta, dict):
        raise ContentError(path, "file", "must be a mapping of fields")
    _sources(path, meta)
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
        questions.append(CheckQuestion(id=_str(path, q, "id"), text=_str(path, q, "text"),
                                       options=tuple(opts)))
    verdicts = meta.get("verdicts")
    if not isinstance(verdicts, dict):
        raise ContentError(path, "verdicts", "missing")
    for key in VERDICTS:
        _str(path, verdicts, key)
    return PhoneCheck(
        title=_str(path, meta, "title"),
        menu_label=_str(path, meta, "menu_label", limit=MAX_MENU_LABEL),
        as_of=_date(path, meta, "as_of", today), intro=_str(path, meta, "intro"),
        questions=tuple(questions),
        verdicts={str(k): str(v).strip() for k, v in verdicts.items()},
    )


def load_content(root: Path, lang: str = "vi", today: dt.date | None = None) -> ContentSet:
    """Load and cross-check content/<lang>/; raises ContentError on the first problem."""
    problems = validate_content(root, lang, today)
    if problems:
        raise problems[0]
    return _load(root / lang, lang, today or dt.date.today())


def validate_content(root: Path, lang: str = "vi",
                     today: dt.date | None = None) -> list[ContentError]:
    """Every problem found in content/<lang>/, each naming its file and field."""
    today = today or dt.date.today()
    folder = root / lang
    problems: list[ContentError] = []
    if not folder.is_dir():
        return [ContentError(folder, "folder", "content folder is missing")]
    topics: dict[str, Topic] = {}
    for path in sorted(folder.glob("*.md")):
        try:
            topic = load_topic(path, today)
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
    try:
        load_check(folder / "check.yml", today)
    except FileNotFoundError:
        problems.append(ContentError(folder / "check.yml", "file", "phone check file missing"))
    except ContentError as exc:
        problems.append(exc)
    try:
        menu, _ = _load_menu(folder / "menu.yml")
        for item in menu:
            if item != CHECK_ID and item not in topics:
                problems.append(ContentError(folder / "menu.yml", "items",
                                             f"unknown topic '{item}'"))
    except FileNotFoundError:
        problems.append(ContentError(folder / "menu.yml", "file", "menu file missing"))
    except ContentError as exc:
        problems.append(exc)
    return problems


def _load_menu(path: Path) -> tuple[tuple[str, ...], str]:
    try:
        meta = _yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ContentError(path, "file", f"not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(meta, dict):
        raise ContentError(path, "file", "must be a mapping of fields")
    items = _strs(path, meta, "items", minimum=1)
    if len(set(items)) != len(items):
        raise ContentError(path, "items", "an item is listed twice")
    return items, _str(path, meta, "help_line")


def _load(folder: Path, lang: str, today: dt.date) -> ContentSet:
    topics = {t.id: t for t in (load_topic(p, today) for p in sorted(folder.glob("*.md")))}
    menu, help_line = _load_menu(folder / "menu.yml")
    return ContentSet(lang=lang, topics=topics, menu=menu,
                      check=load_check(folder / "check.yml", today), help_line=help_line)
