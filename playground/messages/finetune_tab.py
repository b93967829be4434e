"""Texts of the Fine-tune tab (playground.ui.finetune_tab), in English and Simplified Chinese
(identical keys); merged into :mod:`playground.messages`."""

from __future__ import annotations

EN: dict[str, str] = {
    "tab_finetune": "Fine-tune",
    "ftab_help": "**Pre-training and fine-tuning.** The encoder below learned language from a huge amount of unlabelled text (pre-training): it knows which words go together, but not what you want from it. Fine-tuning shows it a small labelled set — texts marked positive or negative — and nudges its weights so that its new classification head gets them right. Watch the loss (how wrong it is on the examples it trains on) fall, then see the held-out examples, which it never trained on, scored before and after, and how the same sentence is explained by the model before and after.",
    "ftab_source": "Labelled examples",
    "ftab_start": "Start from",
    "ftab_layers": "What trains",
    "ftab_examples": "Examples (a third held out for the score)",
    "ftab_epochs": "Epochs (passes over the examples)",
    "ftab_lr": "Learning rate",
    "ftab_seed": "Seed",
    "ftab_train": "Fine-tune",
    "ftab_before": "Before fine-tuning",
    "ftab_after": "After fine-tuning",
    "ftab_download": "Download your model (safetensors + config)",
    "ftab_compare_help": "**The same input, explained by the app's trained model and by yours**: which words does your model use?",
    "ftab_app_model": "The app's sentiment model",
    "ftab_compare": "Explain with both models",
    "ftab_compare_line": "The app's model says **{before}**; your fine-tuned model says **{after}**. Both explanations explain “{target}”.",
}

ZH: dict[str, str] = {
    "tab_finetune": "微调",
    "ftab_help": "**预训练与微调。** 下面的编码器已经从海量无标注文本中学会了语言（预训练）：它知道哪些词常在一起出现，却不知道你想让它做什么。微调给它看一小组带标签的数据——标为正面或负面的文本——并微调它的权重，让新的分类头把这些例子判断对。看着损失（它在训练例子上错得有多厉害）下降，再看从未训练过的留出例子在训练前后的得分，以及同一句话在训练前后如何被解释。",
    "ftab_source": "带标签的例子",
    "ftab_start": "起点",
    "ftab_layers": "训练哪些部分",
    "ftab_examples": "例子数（三分之一留出用于评分）",
    "ftab_epochs": "训练轮数（把例子过几遍）",
    "ftab_lr": "学习率",
    "ftab_seed": "随机种子",
    "ftab_train": "开始微调",
    "ftab_before": "微调前",
    "ftab_after": "微调后",
    "ftab_download": "下载你的模型（safetensors + 配置）",
    "ftab_compare_help": "**同一个输入，分别由应用自带的模型和你的模型解释**：你的模型依靠哪些词？",
    "ftab_app_model": "应用自带的情感模型",
    "ftab_compare": "用两个模型解释",
    "ftab_compare_line": "应用自带的模型判断为 **{before}**；你微调后的模型判断为 **{after}**。两个解释解释的都是“{target}”。",
}
