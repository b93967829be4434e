"""Texts about sharing the app with a class (busy queues, limits per user, the result cache,
the hub login), in English and Simplified Chinese (identical keys); merged into
:mod:`playground.messages`."""

from __future__ import annotations

EN: dict[str, str] = {
    "too_many_jobs": (
        "You already have {count} explanations waiting or running. Wait for one to finish (or press Stop), "
        "then try again."
    ),
    "app_busy": (
        "The app is busy: {count} explanations are waiting. Predictions still run at once; please try the "
        "explanation again in a minute."
    ),
    "from_cache": "(the same request ran before: answered from the cache)",
    "queue_full": "The app is full right now: more requests are waiting than it can hold. Please try again in a minute.",
    "toast_error": "Error",
    "toast_warning": "Warning",
    "toast_info": "Info",
    "login_hint": "Signed-in Hugging Face users get a larger GPU quota on ZeroGPU Spaces.",
}

ZH: dict[str, str] = {
    "too_many_jobs": "你已有 {count} 个解释在排队或运行。请等其中一个完成（或按“停止”）后再试。",
    "app_busy": "应用正忙：有 {count} 个解释在排队。预测仍会立即运行；请一分钟后再试解释。",
    "from_cache": "（同样的请求之前运行过：结果来自缓存）",
    "queue_full": "应用现在已满：排队的请求太多。请一分钟后再试。",
    "toast_error": "错误",
    "toast_warning": "警告",
    "toast_info": "提示",
    "login_hint": "登录 Hugging Face 的用户在 ZeroGPU Space 上有更多的 GPU 配额。",
}
