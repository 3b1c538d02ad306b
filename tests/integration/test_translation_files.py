"""The translation files: check-content's failures (each with its message), the shipped drafts,
export / import of work packages, `translations update`, and compiling minority catalogs."""
from __future__ import annotations

import asyncio
import gettext
import unicodedata
from pathlib import Path

import polib
import pytest
from support.cli import CliResult, run_cli
from support.translations import (
    ROOT,
    approved,
    build,
    copy_tree,
    vi_sources,
    write_string,
    write_topic,
)

from bot.core.content import load_content
from bot.features.translations.catalogs import compile_catalogs
from bot.features.translations.checks import GLOSSARY_COLUMNS, check_translations
from bot.features.translations.files import (
    TranslationImportError,
    export_catalog,
    import_catalog,
    update_language,
)
from bot.features.translations.rules import (
    MINORITY,
    PLURAL_FORMS,
    Provenance,
    State,
    Status,
    catalog_path,
    citizen_msgids,
    digest,
)
from bot.features.translations.service import Translations


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    return copy_tree(tmp_path)



def check(content: Path, locales: Path) -> list[str]:
    return [str(p) for p in check_translations(content, locales)]


def cli(*args: str, cwd: Path = ROOT) -> CliResult:
    """`python -m bot ...` in this process (bot.cli.main), with a bare environment."""
    return run_cli(*args, cwd=cwd, env={"BOT_SECRET_KEY": "x", "PATH": "/usr/bin:/bin"})


# -- what ships --------------------------------------------------------------------------------

def test_shipped_translation_files_pass_and_are_honest_drafts():
    assert check(ROOT / "content", ROOT / "locales") == []
    for lang in ("rad", "jra", "cmo", "hro", "bdq"):
        po = polib.pofile(str(catalog_path(ROOT / "locales", lang)))
        assert po.metadata["Plural-Forms"] == PLURAL_FORMS
        # New strings are added by `python -m bot translations update`; until then they
        # are simply shown in Vietnamese, so the catalog may lag behind the code.
        assert len({e.msgid for e in po if not e.obsolete} & set(citizen_msgids())) >= 30
        assert all(not e.msgstr for e in po), "no invented words: targets are empty"
        for path in (ROOT / "content" / lang).glob("*.md"):
            raw = path.read_text(encoding="utf-8")
            assert "status: draft" in raw and "method: none" in raw, path
            assert "No draft yet" in raw
    assert not (ROOT / "content" / "mnong").exists() and not (ROOT / "locales" / "mnong").exists()


def test_glossary_has_about_forty_key_terms_for_every_language():
    import csv
    with (ROOT / "content" / "glossary.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == GLOSSARY_COLUMNS and 35 <= len(rows) <= 50
    terms = {r["vi"] for r in rows}
    for term in ("điện thoại", "điện thoại 4G", "sóng 2G", "tắt sóng", "nhà mạng", "SIM",
                 "đổi máy", "miễn phí", "cửa hàng", "tổng đài", "tháng", "năm", "giúp", "hỏi",
                 "có", "không", "ngôn ngữ", "xin chào", "cảm ơn"):
        assert term in terms, term
    assert all(not r[lang] for r in rows for lang in MINORITY)   # for the editors to fill in


def test_check_content_command_passes_on_the_repository():
    result = cli("check-content")
    assert result.returncode == 0, result.stderr


# -- check-content failures ---------------------------------------------------------------------

def _fails(tree: tuple[Path, Path], expected: str) -> None:
    content, locales = tree
    problems = check(content, locales)
    assert any(expected in p for p in problems), problems
    result = cli("check-content", "--content-dir", str(content), "--locales-dir", str(locales))
    assert result.returncode == 1 and expected in result.stderr, result.stderr


def test_check_fails_on_an_approved_string_without_reviewer_record(tree):
    content, locales = tree
    write_string(locales, "rad", "Check again", "RAD-TEST again",
                 approved({"text": "Kiểm tra lại"}, reviewer="", organisation=""))
    _fails(tree, "shipped (approved) string without a reviewer record")


def test_check_fails_on_an_approved_topic_without_reviewer_record(tree):
    content, _ = tree
    write_topic(content, "rad", "cost", approved(vi_sources(content)["cost"], reviewed=""))
    _fails(tree, "cost.md: status: shipped (approved) text without a reviewer record")


def test_check_fails_on_a_stale_translation(tree):
    content, locales = tree
    write_topic(content, "jra", "timeline", approved({"body": "older Vietnamese"}))
    _fails(tree, "timeline.md: status: approved text is stale")
    write_string(locales, "jra", "Check again", "JRA-TEST again",
                 approved({"text": "an older Vietnamese"}))
    problems = check(*tree)
    assert any("Check again" in p and "approved string is stale" in p for p in problems)


def test_check_fails_on_a_catalog_without_plural_forms(tree):
    _, locales = tree
    path = catalog_path(locales, "cmo")
    path.write_text(path.read_text(encoding="utf-8").replace(
        '"Plural-Forms: nplurals=1; plural=0;\\n"\n', ""), encoding="utf-8")
    _fails(tree, "loa.po: Plural-Forms: the header must be 'Plural-Forms: nplurals=1; "
                 "plural=0;'")


@pytest.mark.parametrize("legacy", ["Ê[ê", "k\\oh", "h{ak", "bu^on", "#hlak"])
def test_check_fails_on_legacy_font_stand_ins_inside_words(tree, legacy):
    content, _ = tree
    source = vi_sources(content)["reason"]
    fields = {k: f"RAD-TEST {legacy}" for k in source}
    write_topic(content, "rad", "reason", Provenance(Status.DRAFT, "human", "t"), fields)
    _fails(tree, "inside words: text typed with an old station font")


def test_placeholders_and_spaced_brackets_are_not_legacy_font(tree):
    content, locales = tree
    write_string(locales, "rad", "Updated {date}", "RAD-TEST {date} (2G) [4G]",
                 Provenance(Status.DRAFT, "human", "t"))
    assert check(content, locales) == []
    write_string(locales, "rad", "Updated {date}", "RAD-TEST {day}",
                 Provenance(Status.DRAFT, "human", "t"))
    assert any("unknown placeholder {day}" in p for p in check(content, locales))


def test_check_fails_on_non_nfc_text(tree):
    content, _ = tree
    source = vi_sources(content)["switch"]
    nfd = unicodedata.normalize("NFD", "RAD-TEST Ƀuôn Hồ")
    write_topic(content, "rad", "switch", Provenance(Status.DRAFT, "human", "t"),
                {k: nfd for k in source})
    _fails(tree, "switch.md: title: text is not Unicode NFC")


def test_check_fails_on_an_invented_language_folder(tree):
    content, _ = tree
    (content / "mnong").mkdir()
    _fails(tree, "'mnong' is not a language tag Loa knows")


# -- compiling: drafts and unreviewed entries are not shipped -----------------------------------

def test_compile_ships_only_approved_current_entries_and_keeps_plural_forms(tree):
    content, locales = tree
    write_string(locales, "rad", "Check again", "RAD-TEST again")
    write_string(locales, "rad", "☰ Main menu", "RAD-TEST draft",
                 Provenance(Status.DRAFT, "machine", "t"))
    write_string(locales, "rad", "🌐 Language", "RAD-TEST stale", approved({"text": "old"}))
    compile_catalogs(locales)
    with (locales / "rad" / "LC_MESSAGES" / "loa.mo").open("rb") as fh:
        mo = gettext.GNUTranslations(fh)
    assert mo.gettext("Check again") == "RAD-TEST again"
    assert mo.gettext("☰ Main menu") == "☰ Main menu"
    assert mo.gettext("🌐 Language") == "🌐 Language"
    assert mo.info()["plural-forms"] == PLURAL_FORMS
    assert mo.ngettext("a", "b", 5) == "b"   # nplurals=1: no fallback to English rules


# -- export and import --------------------------------------------------------------------------

def _service(content: Path, locales: Path, lang: str = "rad") -> Translations:
    return Translations(content, locales, [lang], load_content(content, "vi"))


def test_export_lists_what_needs_translating_with_the_vietnamese_as_source(tree):
    content, locales = tree
    write_topic(content, "rad", "timeline", None)
    po = export_catalog(_service(*tree), "rad")
    contexts = {e.msgctxt: e for e in po}
    assert po.metadata["Plural-Forms"] == PLURAL_FORMS
    assert contexts["ui:Check again"].msgid == "Kiểm tra lại"
    assert contexts["text:cost:body"].msgid == vi_sources(content)["cost"]["body"]
    assert "text:timeline:body" not in contexts          # approved and current: done
    everything = {e.msgctxt for e in export_catalog(_service(*tree), "rad", everything=True)}
    assert "text:timeline:body" in everything


def _translated_package(service: Translations, fill: dict[str, str]) -> str:
    po = export_catalog(service, "rad")
    for entry in po:
        if entry.msgctxt in fill:
            entry.msgstr = fill[entry.msgctxt]
    return po.__unicode__()


def test_import_takes_translations_back_as_drafts_never_approved(tree):
    content, locales = tree
    service = _service(*tree)
    source = vi_sources(content)["cost"]
    package = _translated_package(service, {
        "ui:Check again": "RAD-TEST again", "text:cost:title": "RAD-TEST cost title",
        "text:cost:menu_label": "RAD-TEST cost", "text:cost:body": "RAD-TEST ɓody"})
    result = import_catalog(service, "rad", package, "Ban tiếng dân tộc (test data)")
    assert sorted(result.changed) == ["Check again", "cost"]
    raw = (content / "rad" / "cost.md").read_text(encoding="utf-8")
    assert "status: draft" in raw and "method: human" in raw and "RAD-TEST ƀody" in raw
    assert f"source_hash: {digest(source)}" in raw and "reviewer: null" in raw
    entry = next(e for e in polib.pofile(str(catalog_path(locales, "rad")))
                 if e.msgid == "Check again")
    assert entry.fuzzy and "translator: Ban tiếng dân tộc (test data)" in entry.tcomment
    fresh = _service(*tree)
    states = {u.key: fresh.verdict(u).state for u in fresh.units["rad"]}
    assert states["cost"] is State.DRAFT and states["Check again"] is State.DRAFT
    conversation, _, _ = build(content, locales)
    assert "cost" not in conversation.contents["rad"].translated


def test_import_of_a_translation_made_from_older_vietnamese_stays_marked(tree):
    content, _ = tree
    service = _service(*tree)
    po = export_catalog(service, "rad")
    entry = next(e for e in po if e.msgctxt == "text:menu:help_line")
    entry.msgid = "an older Vietnamese help line"
    entry.msgstr = "RAD-TEST help"
    import_catalog(service, "rad", po.__unicode__(), "test")
    unit = next(u for u in _service(*tree).units["rad"] if u.key == "menu")
    assert unit.prov.source_hash != unit.source_hash


@pytest.mark.parametrize(("translation", "message"), [
    ("Ê[ê hl{ak", "inside words: text typed with an old station font"),
    (unicodedata.normalize("NFD", "RAD-TEST ô"), "text is not Unicode NFC"),
])
def test_import_rejects_legacy_font_and_non_nfc_text_and_writes_nothing(tree, translation,
                                                                         message):
    content, locales = tree
    service = _service(*tree)
    before = catalog_path(locales, "rad").read_bytes(), (content / "rad" / "cost.md").read_bytes()
    package = _translated_package(service, {"text:cost:body": translation,
                                            "ui:Check again": "RAD-TEST fine"})
    with pytest.raises(TranslationImportError) as caught:
        import_catalog(service, "rad", package, "test")
    assert any("text:cost:body" in p and message in p for p in caught.value.problems)
    after = catalog_path(locales, "rad").read_bytes(), (content / "rad" / "cost.md").read_bytes()
    assert after == before


def test_import_command_prints_each_problem(tree, tmp_path):
    content, locales = tree
    package = _translated_package(_service(*tree), {"text:cost:body": "bu^on"})
    path = tmp_path / "rad.po"
    path.write_text(package, encoding="utf-8")
    env_dirs = ("--lang", "rad", "--translator", "test")
    result = run_cli(
        "translations", "import", str(path), *env_dirs, cwd=ROOT,
        env={"BOT_SECRET_KEY": "x", "PATH": "/usr/bin:/bin", "BOT_CONTENT_DIR": str(content),
             "BOT_LOCALES_DIR": str(locales), "BOT_DATA_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "text:cost:body" in result.stderr and "old station font" in result.stderr
    assert "nothing imported" in result.stderr


def test_import_refuses_a_file_of_another_language_or_unknown_entries(tree):
    service = _service(*tree)
    po = export_catalog(service, "rad")
    po.metadata["Language"] = "jra-Latn-VN"
    with pytest.raises(TranslationImportError, match="for language 'jra-Latn-VN'"):
        import_catalog(service, "rad", po.__unicode__(), "test")
    po.metadata["Language"] = "rad"
    po.append(polib.POEntry(msgctxt="text:nope:body", msgid="x", msgstr="y"))
    with pytest.raises(TranslationImportError, match="no topic text 'nope'"):
        import_catalog(service, "rad", po.__unicode__(), "test")


# -- update --------------------------------------------------------------------------------------

def test_update_turns_stale_approvals_into_drafts_and_adds_missing_files(tree):
    content, locales = tree
    write_topic(content, "rad", "timeline", approved({"body": "older Vietnamese"}))
    write_string(locales, "rad", "Check again", "RAD-TEST", approved({"text": "older"}))
    (content / "rad" / "cost.md").unlink()
    changes = update_language(_service(*tree), "rad")
    assert "rad: new cost.md" in changes and "rad: updated timeline.md" in changes
    assert any("stale, back to draft: 'Check again'" in c for c in changes)
    raw = (content / "rad" / "timeline.md").read_text(encoding="utf-8")
    assert "status: draft" in raw and "re-review needed" in raw
    assert check(content, locales) == []
    assert update_language(_service(*tree), "rad") == []


# -- the commands ----------------------------------------------------------------------------------

def _run(content: Path, locales: Path, data: Path, *args: str,
         database_url: str = "") -> CliResult:
    env = {"BOT_SECRET_KEY": "x", "PATH": "/usr/bin:/bin", "BOT_CONTENT_DIR": str(content),
           "BOT_LOCALES_DIR": str(locales), "BOT_DATA_DIR": str(data)}
    if database_url:
        env["BOT_DATABASE_URL"] = database_url
    return run_cli("translations", *args, cwd=ROOT, env=env)


def test_export_and_status_commands(tree, tmp_path):
    content, locales = tree
    out = tmp_path / "out"
    result = _run(content, locales, tmp_path, "export", "--lang", "rad", "--lang", "jra",
                  "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["loa-jra.po", "loa-rad.po"]
    po = polib.pofile(str(out / "loa-rad.po"))
    assert po.metadata["Plural-Forms"] == PLURAL_FORMS and len(po) > 100
    status = _run(content, locales, tmp_path, "status", "--lang", "rad")
    assert status.returncode == 0 and "rad-Latn-VN:" in status.stdout
    assert "0 approved" in status.stdout


async def test_export_approvals_writes_the_reviewers_decisions_into_the_files(tree, settings,
                                                                               tmp_path):
    from types import SimpleNamespace

    from support.officers import make_officer

    from bot.features.translations.store import record_decision
    from bot.store.db import Database, make_engine
    content, locales = tree
    write_topic(content, "rad", "cost", Provenance(Status.DRAFT, "human", "test"))
    unit = next(u for u in _service(*tree).units["rad"] if u.key == "cost")
    officer_id, _ = await make_officer(settings, "tinh", "reviewer", "Test Reviewer (test data)",
                                       "rad")
    reviewer = SimpleNamespace(id=officer_id, name="Test Reviewer (test data)",
                               unit_name=settings.unit, actor=f"officer:{officer_id}", unit_id=1)
    db = Database(make_engine(settings.database_url))
    try:
        async with db.begin() as conn:
            await record_decision(conn, reviewer, "rad", unit.review_key, unit.label, "approved",
                                  unit.target_hash, unit.source_hash)
    finally:
        await db.dispose()
    assert check(content, locales) == []
    result = await asyncio.to_thread(   # the command runs its own event loop
        _run, content, locales, tmp_path, "export", "--approvals", "--lang", "rad",
        database_url=settings.database_url)
    assert result.returncode == 0, result.stderr
    assert "rad: approved 'cost'" in result.stdout
    raw = (content / "rad" / "cost.md").read_text(encoding="utf-8")
    assert "status: approved" in raw and "reviewer: Test Reviewer (test data)" in raw
    assert f"organisation: {settings.unit}" in raw and f"source_hash: {unit.source_hash}" in raw
    assert check(content, locales) == []
    again = await asyncio.to_thread(
        _run, content, locales, tmp_path, "export", "--approvals", "--lang", "rad",
        database_url=settings.database_url)
    assert "no new decisions to write" in again.stdout


def test_import_refuses_a_body_too_long_for_a_chat_message(tree):
    service = _service(*tree)
    package = _translated_package(service, {"text:cost:body": "RAD-TEST " * 400})
    with pytest.raises(TranslationImportError, match="keep it under 3000"):
        import_catalog(service, "rad", package, "test")
