"""Texts of the page's share and presenter row, in English and Simplified Chinese (identical
keys); merged into :mod:`playground.messages`."""

from __future__ import annotations

EN: dict[str, str] = {
    "presenter": "Presenter: larger text",
    "share_btn": "Link to this page",
    "share_label": "Link: opens this tab with these inputs (copy it)",
    "share_too_long": "The inputs are too long for a link (over {limit:,} characters): shorten the text to share it.",
    "export_json": "Explanation (JSON)",
    "export_csv": "Matrix (CSV)",
}

ZH: dict[str, str] = {
    "presenter": "演示模式：放大文字",
    "share_btn": "生成本页链接",
    "share_label": "链接：用这些输入打开这个标签页（请复制）",
    "share_too_long": "输入太长，放不进链接（超过 {limit:,} 个字符）：请缩短文本后再分享。",
    "export_json": "解释（JSON）",
    "export_csv": "矩阵（CSV）",
}
