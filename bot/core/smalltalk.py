"""Small talk and other subjects: greetings, thanks, and what Loa knows it does not cover.

All word lists are folded (lower-case, no tone marks), as `text.normalize_query` returns them.
"""
from __future__ import annotations

from enum import StrEnum


class SmallTalk(StrEnum):
    GREETING = "greeting"
    THANKS = "thanks"


# Words that greet, thank, address someone or soften a sentence; a message made only of
# these (and at least one greeting or thanks) is small talk, not a question.
_GREETING_WORDS = frozenset("xin chao chao hello hi alo allo hey loa start bat dau".split())
_THANKS_WORDS = frozenset("cam on camon cm thank thanks thankyou you tks thanh kiu".split())
_POLITE = frozenset("""
a ad admin ban em anh chi co chu bac ong ba oi nhe nha nhen nhieu lam rat ok oke okay vang
da u uh uhm voi nhe ne minh toi tui ca moi nguoi chuc ngay tot lanh buoi sang chieu toi
rat la hay qua ha hi nghe ha dong y duoc roi
""".split())


def smalltalk_kind(tokens: list[str]) -> SmallTalk | None:
    """Greeting or thanks when the message holds nothing but polite words; else None."""
    words = set(tokens)
    if not words or not words <= (_GREETING_WORDS | _THANKS_WORDS | _POLITE):
        return None
    if words & {"cam", "camon", "cm", "thank", "thanks", "thankyou", "tks", "kiu"}:
        return SmallTalk.THANKS
    if words & _GREETING_WORDS:
        return SmallTalk.GREETING
    return None


# Subjects people ask a provincial bot about that are not the end of 2G. Each line is one
# short document of the out-of-scope class: the matcher answers "I only know about 2G"
# when a question is closer to these than to any topic. Officers add more from the review
# page ("mark out of scope"). Kept generic on purpose: lexicon of each subject, not questions.
OFF_TOPIC: tuple[str, ...] = (
    # weather, disasters as news
    "thoi tiet hom nay ngay mai mua nang nhiet do",
    "du bao thoi tiet bao ap thap nhiet doi",
    "troi mua lanh nong do am",
    # electricity, water, household bills
    "tien dien hoa don dien thang nay",
    "cup dien mat dien lich cat dien dien luc",
    "tien nuoc hoa don nuoc cup nuoc mat nuoc",
    "so dien cong to dien tra tien dien",
    # sports, entertainment, chit-chat
    "bong da ket qua tran dau lich thi dau",
    "doi tuyen viet nam da bong world cup",
    "phim hay ca nhac bai hat nghe nhac xem phim",
    "ke chuyen cuoi hat mot bai do vui",
    "ban ten gi ban bao nhieu tuoi ban la ai",
    "hom nay la ngay bao nhieu thu hai am lich duong lich",
    "xo so ket qua xo so mien trung mien nam",
    "gia vang ty gia do la",
    # land, housing, civil paperwork
    "so do dat dai thu tuc cap so do",
    "tranh chap dat dai chuyen nhuong dat thua dat",
    "can cuoc cong dan lam cccd cap doi can cuoc",
    "giay khai sinh dang ky ket hon ho khau tam tru",
    "dang ky xe may bang lai xe giay phep lai xe",
    "bao hiem y te bao hiem xa hoi luong huu tro cap",
    "thue nha dat nop thue thu nhap",
    "dich vu cong vneid tai khoan dinh danh",
    # farming, prices, markets
    "gia ca phe gia tieu gia sau rieng hom nay",
    "trong cay ca phe sau rieng bon phan thuoc tru sau",
    "chan nuoi heo bo ga dich ta benh gia suc",
    "phan bon gia lua gao nong san",
    # health, school, work, money
    "benh vien kham benh bac si thuoc sot ho",
    "tiem vac xin tram y te",
    "hoc phi truong hoc thi tot nghiep diem thi tuyen sinh",
    "tuyen dung viec lam luong xin viec",
    "vay von ngan hang lai suat vay tien",
    "chuyen tien ngan hang the atm tai khoan ngan hang",
    "lu lut cuu tro hang cuu tro thien tai",
    # transport, food, daily life
    "xe buyt xe khach ve xe lich chay",
    "nau an mon an cong thuc nau canh",
    "mua ban xe may cu oto",
    "nghi tet nghi le lich nghi",
    # phones, but not the end of 2G
    "sua dien thoai vo man hinh thay pin sac pin",
    "mat dien thoai bi trom dien thoai roi mat",
    "quen mat khau zalo facebook lay lai mat khau",
    "tai ung dung cai app ung dung",
    "wifi internet cham cap quang mang cham",
    "nap tien dien thoai the cao nap the",
    "goi cuoc data dung luong dang ky goi cuoc 4g",
    "tivi truyen hinh dau thu ky thuat so mat kenh ang ten",
    "chu tich tinh uy ban lanh dao bau cu",
)
