"""Every word the command line prints around the data, in English and Persian.

``check``, ``check-batch`` and ``programs`` take ``--lang en|fa``; what a program says
(titles, reasons) comes in both languages from its file, and everything else comes from
:data:`LABELS`, so a label is never printed in only one language. Codes (reason codes,
program ids, agency ids) stay as they are: they are identifiers, not words.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

LANGUAGES = ("en", "fa")

LABELS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        # check
        "ELIGIBLE": ("ELIGIBLE", "واجد شرایط"),
        "INELIGIBLE": ("INELIGIBLE", "فاقد شرایط"),
        "UNDETERMINED": ("UNDETERMINED", "نامشخص"),
        "UNSPECIFIED": ("UNSPECIFIED", "نامشخص"),
        "ERROR": ("ERROR", "خطا"),
        "program": ("program", "برنامه"),
        "as of": ("as of", "به تاریخ"),
        "request": ("request", "درخواست"),
        "reasons": ("reasons", "دلایل"),
        "household members considered": ("household members considered", "اعضای خانوار بررسی‌شده"),
        "under": ("under", "بر پایه"),
        "rule": ("rule", "قاعده"),
        "outcome": ("outcome", "نتیجه"),
        "code": ("code", "کد"),
        "reason": ("reason", "دلیل"),
        "pass": ("pass", "برقرار"),
        "fail": ("fail", "برقرار نیست"),
        "unknown": ("unknown", "نامعلوم"),
        "agency": ("agency", "دستگاه"),
        "status": ("status", "وضعیت"),
        "ms": ("ms", "میلی‌ثانیه"),
        "detail": ("detail", "جزئیات"),
        "OK": ("OK", "پاسخ داد"),
        "NOT_FOUND": ("NOT_FOUND", "سابقه‌ای ندارد"),
        "TIMEOUT": ("TIMEOUT", "مهلت گذشت"),
        "UNAVAILABLE": ("UNAVAILABLE", "در دسترس نیست"),
        "identity": ("identity", "هویت"),
        "program read": ("program read", "داده‌های برنامه"),
        "audit receipt: log index": ("audit receipt: log index", "رسید حسابرسی: شماره در دفتر"),
        # check-batch
        "subjects": ("subjects", "نفر"),
        "kept from before": ("kept from before", "از اجرای پیشین"),
        "checking": ("checking", "در حال بررسی"),
        # programs
        "version": ("version", "نسخه"),
        "title": ("title", "عنوان"),
        "unit": ("unit", "واحد"),
        "need": ("need", "نیاز"),
        "purposes": ("purposes", "هدف‌ها"),
        "ok": ("ok  ", "درست"),
        "FAIL": ("FAIL", "نادرست"),
        "test cases of": ("test cases of", "مورد آزمون از"),
        "passed": ("passed", "درست"),
        "failed": ("failed", "نادرست"),
    }
)
"""Each label's English and Persian text, by its English key."""


def label(key: str, lang: str) -> str:
    """``key``'s text in ``lang`` (``en`` or ``fa``)."""
    english, persian = LABELS[key]
    return persian if lang == "fa" else english
