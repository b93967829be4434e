"""Texts inside the figures (playground.views): which layer and head an attention map shows, and
its axes, in English and Simplified Chinese (identical keys); merged into :mod:`playground.messages`."""

from __future__ import annotations

EN: dict[str, str] = {
    "fig_att_head": "Layer {layer} of {layers}, head {head} of {heads}",
    "fig_att_mean": "Layer {layer} of {layers}, mean of its {heads} heads",
    "fig_att_rollout": "Rollout: attention carried through all {layers} layers",
    "fig_att_to": "attends to",
    "fig_att_from": "word",
}

ZH: dict[str, str] = {
    "fig_att_head": "第 {layer} 层（共 {layers} 层），第 {head} 个头（共 {heads} 个）",
    "fig_att_mean": "第 {layer} 层（共 {layers} 层），{heads} 个头的平均",
    "fig_att_rollout": "注意力展开（rollout）：贯穿全部 {layers} 层",
    "fig_att_to": "关注的词",
    "fig_att_from": "词",
}
