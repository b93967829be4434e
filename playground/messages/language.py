"""Texts about an input's language (playground.language): the warning a result carries when its
model does not read the input's language, what was routed where, and language names, in English
and Simplified Chinese (identical keys); merged into :mod:`playground.messages`."""

from __future__ import annotations

# Language names for the codes fastText's LID-176 gives most often; any other code is shown as is.
_NAMES = {
    "en": ("English", "英语"), "zh": ("Chinese", "中文"), "ja": ("Japanese", "日语"), "ko": ("Korean", "韩语"),
    "de": ("German", "德语"), "fr": ("French", "法语"), "es": ("Spanish", "西班牙语"), "it": ("Italian", "意大利语"),
    "pt": ("Portuguese", "葡萄牙语"), "ru": ("Russian", "俄语"), "ar": ("Arabic", "阿拉伯语"), "hi": ("Hindi", "印地语"),
    "nl": ("Dutch", "荷兰语"), "sv": ("Swedish", "瑞典语"), "pl": ("Polish", "波兰语"), "tr": ("Turkish", "土耳其语"),
    "vi": ("Vietnamese", "越南语"), "th": ("Thai", "泰语"), "id": ("Indonesian", "印尼语"), "uk": ("Ukrainian", "乌克兰语"),
    "el": ("Greek", "希腊语"), "he": ("Hebrew", "希伯来语"), "fa": ("Persian", "波斯语"), "cs": ("Czech", "捷克语"),
    "*": ("any language", "任何语言"),
}

EN: dict[str, str] = {
    "language_not_read": (
        "⚠ This text looks {language} ({score:.0%} sure), but {model} reads {reads} only: "
        "its answer is not to be trusted."
    ),
    "language_traditional": "The text is in Traditional Chinese characters.",
    "language_output_other": "⚠ The model wrote {language}, not {expected}: this is not the answer that was asked for.",
    "simplified_note": "The model wrote {n} Traditional characters; they are shown in Simplified (OpenCC).",
    **{f"langname_{code}": en for code, (en, _) in _NAMES.items()},
}

ZH: dict[str, str] = {
    "language_not_read": "⚠ 这段文字看起来是{language}（把握 {score:.0%}），但 {model} 只读{reads}：它的回答不可信。",
    "language_traditional": "文本使用繁体字。",
    "language_output_other": "⚠ 模型写的是{language}，不是{expected}：这不是所要的回答。",
    "simplified_note": "模型写出了 {n} 个繁体字；此处以简体显示（OpenCC）。",
    **{f"langname_{code}": zh for code, (_, zh) in _NAMES.items()},
}
