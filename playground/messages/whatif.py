"""Texts of the what-if panel (every tab), in English and Simplified Chinese (identical keys);
merged into :mod:`playground.messages`."""

from __future__ import annotations

EN: dict[str, str] = {
    # Errors (playground.whatif).
    "whatif_no_word": "'{word}' is not a word of the input. Choose one of: {words}.",
    "whatif_bad_replacement": "The replacement must be one line of at most {limit} characters.",
    "whatif_no_replace": "This model can only show what happens without the word: leave the replacement empty.",
    "whatif_bad_task": "Unknown task '{task}'. Choose one of: {tasks}.",
    # The panel.
    "whatif_help": "Remove a word, or replace it with another, and see how the same answer's probability changes: a minimal pair, with the same model and nothing else changed.",
    "whatif_word": "Word",
    "whatif_word_info": "Choose a word of the input (the list fills after the first try), or type it.",
    "whatif_replacement": "Replace with",
    "whatif_replacement_info": "Empty: remove the word.",
    "whatif_run": "What if?",
    "whatif_removed": "**Without “{word}”:** {text}",
    "whatif_replaced": "**“{word}” → “{replacement}”:** {text}",
    "whatif_col_target": "target",
    "whatif_col_before": "before",
    "whatif_col_after": "after",
    "whatif_col_change": "change",
    "whatif_points": "{change:+.1f} points",
    "whatif_times": "× {ratio:.3g}",
    "whatif_logp_note": "Values are log-probabilities of the same output; “× r” is how many times more (or less) likely it became.",
}

ZH: dict[str, str] = {
    "whatif_no_word": "“{word}”不是输入中的词。可选：{words}。",
    "whatif_bad_replacement": "替换内容必须是一行，最多 {limit} 个字符。",
    "whatif_no_replace": "此模型只能显示去掉这个词之后的变化：请把替换内容留空。",
    "whatif_bad_task": "未知任务“{task}”。可选：{tasks}。",
    "whatif_help": "去掉一个词，或把它换成另一个词，看同一个答案的概率如何变化：这是一组最小对比，模型相同，其他一切不变。",
    "whatif_word": "词",
    "whatif_word_info": "从输入中选一个词（第一次尝试后列表会填好），或直接输入。",
    "whatif_replacement": "替换为",
    "whatif_replacement_info": "留空：去掉这个词。",
    "whatif_run": "如果……？",
    "whatif_removed": "**去掉“{word}”：** {text}",
    "whatif_replaced": "**“{word}” → “{replacement}”：** {text}",
    "whatif_col_target": "目标",
    "whatif_col_before": "之前",
    "whatif_col_after": "之后",
    "whatif_col_change": "变化",
    "whatif_points": "{change:+.1f} 个百分点",
    "whatif_times": "× {ratio:.3g}",
    "whatif_logp_note": "数值是同一输出的对数概率；“× r”表示它变得可能了多少倍（小于 1 即可能性降低）。",
}
