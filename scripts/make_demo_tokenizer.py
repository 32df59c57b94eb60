"""Regenerate blossom_edge/data/demo_tokenizer/: the byte-level BPE behind `blossom-edge demo`.

The demo builds a tiny Blossom-shaped Qwen2 checkpoint offline, so it needs a real Qwen2-style
tokenizer that we may ship: one trained here, on bilingual text written for this project
(below), with Qwen2's normalizer, pre-tokenizer regex, special tokens and the Blossom v5 chat
template. Running this again gives identical files (single-threaded training on a fixed
corpus); tests check that.

    python scripts/make_demo_tokenizer.py [--out DIR]

Needs `tokenizers` (a test/dev dependency, never a runtime one).
"""

from __future__ import annotations

import argparse
import json
import os
import random
from pathlib import Path

# Training is parallel by default and its merge order could then depend on scheduling.
os.environ["RAYON_NUM_THREADS"] = "1"

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from blossom_edge.model.catalog import BLOSSOM_V5_SYSTEM

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "blossom_edge" / "data" / "demo_tokenizer"

VOCAB_SIZE = 6000
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
EOS = "<|endoftext|>"
# Qwen2's split rule, as in its tokenizer.json; llama.cpp knows it as pre-tokenizer "qwen2".
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Written for blossom-edge; free to use under the project's MIT licence.
ENGLISH = [
    "Blossom is a family of bilingual chat models that answer in Chinese and English.",
    "This toolkit converts a checkpoint to GGUF without torch and runs it with llama.cpp.",
    "A phone, an ARM board or an old laptop can run a small quantized model offline.",
    "Quantization stores each weight in fewer bits, so the model needs less memory.",
    "The tokenizer splits text into pieces, and each piece has a number called a token id.",
    "When the prompt is long, the first token takes longer than the ones that follow.",
    "Please explain the difference between a list and a tuple in Python.",
    "Write a short poem about the plum blossoms that open in the late winter snow.",
    "The weather in the mountains changes quickly, so bring a warm jacket and some water.",
    "She planted tomatoes, peppers and basil in the garden behind the old library.",
    "How many hours does it take to travel from Shanghai to Beijing by high-speed train?",
    "Our benchmark measures prompt processing and generation speed in tokens per second.",
    "If the download is interrupted, run the same command again and it resumes.",
    "The assistant should be helpful, honest and polite, and it should admit uncertainty.",
    "Bread rises because yeast turns sugar into carbon dioxide and a little alcohol.",
    "A good test fails for the reason it was written for and passes for no other.",
    "The river flows east past the tea fields, the bamboo forest and the fishing village.",
    "Memory bandwidth, not compute, limits token generation on most small devices.",
    "He asked the bot to translate the menu, summarize the news and plan a weekend trip.",
    "Never share your password; the service will not ask for it by email or message.",
    "I've been told they're here, but we'll see whether it's true and who'd know.",
    "The cat sat on the warm windowsill and watched the rain fall on the quiet street.",
    "Learning a language takes patience: read every day, speak often, and make mistakes.",
    "Solar panels on the roof charge the battery during the day and light the house at night.",
]
CHINESE = [
    "Blossom 是一个中英双语的对话模型系列，可以回答各种问题。",
    "这个工具不需要 torch，就能把模型转换成 GGUF 格式，再用 llama.cpp 运行。",
    "手机、开发板或者旧笔记本电脑也可以离线运行量化后的小模型。",
    "量化用更少的比特保存每个权重，所以模型占用的内存更小。",
    "分词器把文本切成小片段，每个片段对应一个编号。",
    "请解释一下 Python 里列表和元组有什么区别。",
    "写一首短诗，描写冬末雪中盛开的梅花。",
    "山里的天气变化很快，记得带上厚外套和足够的水。",
    "她在老图书馆后面的菜园里种了番茄、辣椒和罗勒。",
    "从上海坐高铁到北京需要多长时间？",
    "我们的基准测试会测量提示处理速度和生成速度。",
    "如果下载中断了，再运行一次同样的命令就会继续。",
    "助手应当乐于助人、诚实、有礼貌，不确定的时候要说明。",
    "面包会发起来，是因为酵母把糖变成了二氧化碳。",
    "河水向东流过茶园、竹林和小渔村。",
    "在大多数小型设备上，限制生成速度的是内存带宽而不是算力。",
    "他让机器人翻译菜单、总结新闻，还帮忙安排周末旅行。",
    "不要把密码告诉任何人，客服不会通过邮件向你索要密码。",
    "学习一门语言需要耐心：每天阅读，经常开口，不怕犯错。",
    "屋顶的太阳能板白天给电池充电，晚上照亮整个房子。",
    "春天来了，公园里的樱花、桃花和杏花都开了，游人很多。",
    "今天的会议推迟到下午三点，请大家提前准备好材料。",
    "这道菜需要先把鸡蛋打散，再和西红柿一起翻炒。",
    "孩子们在操场上踢足球，老师在旁边吹着哨子。",
    "秋天的稻田一片金黄，农民们正忙着收割。",
    "地铁早高峰非常拥挤，很多人选择骑自行车上班。",
    "中国的四大发明是造纸术、印刷术、火药和指南针。",
    "长江是中国最长的河流，黄河被称为中华民族的母亲河。",
    "熊猫主要吃竹子，生活在四川、陕西和甘肃的山区。",
    "图书馆周一闭馆，其他时间早上九点到晚上九点开放。",
    "请用三句话总结这篇文章的主要观点，并给出你的看法。",
    "端午节吃粽子、赛龙舟，中秋节吃月饼、赏月亮。",
]
CODE = [
    "def add(a: int, b: int) -> int:\n    return a + b\n",
    "for i in range(10):\n    print(i * i)\n",
    "import json\nwith open('config.json') as f:\n    config = json.load(f)\n",
    "if (x > 0 && y < 0) {\n    return -1;\n}\n",
    "SELECT name, count(*) FROM users GROUP BY name ORDER BY 2 DESC;\n",
    "git commit -m \"fix: handle empty input\" && git push\n",
    "class Point:\n    def __init__(self, x, y):\n        self.x, self.y = x, y\n",
    "const items = list.filter((item) => item.done).map((item) => item.id);\n",
]
EMOJI = ["🌸", "🌼", "🚀", "✅", "😀", "🦙", "❤️", "👍", "🎉", "🍵"]


def corpus(seed: int = 20240601) -> list[str]:
    """Deterministic training text: every sentence, seeded dialogue-shaped mixtures of them,
    and Chinese phrases spliced from their two-character words (a Chinese clause is one
    pre-token, so new combinations are what gives the vocabulary its Chinese merges)."""
    rng = random.Random(seed)
    lines = ENGLISH + CHINESE + CODE
    bigrams = sorted({s[i:i + 2] for s in CHINESE for i in range(len(s) - 1) if _is_cjk(s[i:i + 2])})
    for _ in range(12000):
        clauses = ["".join(rng.choices(bigrams, k=rng.randint(1, 3))) for _ in range(rng.randint(2, 5))]
        lines.append("，".join(clauses) + rng.choice("。？！"))
    for _ in range(2500):
        kind = rng.random()
        if kind < 0.45:
            parts = rng.sample(CHINESE, 2) + [rng.choice(ENGLISH)]
        elif kind < 0.8:
            parts = rng.sample(ENGLISH, 2) + [rng.choice(CHINESE)]
        else:
            parts = [rng.choice(CODE), rng.choice(ENGLISH)]
        number = f"{rng.randint(0, 99999)}.{rng.randint(0, 99)}"
        rng.shuffle(parts)
        text = f"\n|Human|: {parts[0]} {number}\n|Bot|: {' '.join(parts[1:])} {rng.choice(EMOJI)}"
        lines.append(BLOSSOM_V5_SYSTEM + text if rng.random() < 0.1 else text)
    return lines


def _is_cjk(text: str) -> bool:
    return all("\u4e00" <= ch <= "\u9fff" for ch in text)


def chat_template() -> str:
    """Blossom v5: SYSTEM, then per turn "\\n|Human|: " user "\\n|Bot|: " answer eos_token."""
    system = BLOSSOM_V5_SYSTEM.replace("'", "\\'")
    return (
        "{%- if messages and messages[0]['role'] == 'system' -%}"
        "{%- set system = messages[0]['content'] -%}{%- set turns = messages[1:] -%}"
        f"{{%- else -%}}{{%- set system = '{system}' -%}}{{%- set turns = messages -%}}{{%- endif -%}}"
        "{{- system -}}"
        "{%- for message in turns -%}"
        "{%- if message['role'] == 'user' -%}{{- '\\n|Human|: ' + message['content'] -}}"
        "{%- elif message['role'] == 'assistant' -%}{{- '\\n|Bot|: ' + message['content'] + eos_token -}}"
        "{%- endif -%}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- '\\n|Bot|: ' -}}{%- endif -%}"
    )


def build_tokenizer(vocab_size: int = VOCAB_SIZE) -> Tokenizer:
    """A Qwen2-shaped byte-level BPE: NFC, Qwen2 split regex, ByteLevel, specials after the vocab."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tokenizer.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(corpus(), trainer=trainer)
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    return tokenizer


def tokenizer_config(tokenizer: Tokenizer) -> dict:
    """Qwen2's tokenizer_config.json fields, with Blossom v5's eos and chat template."""
    return {
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(tokenizer.token_to_id(t)): {
                "content": t, "lstrip": False, "normalized": False, "rstrip": False,
                "single_word": False, "special": True,
            }
            for t in SPECIAL_TOKENS
        },
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": None,
        "chat_template": chat_template(),
        "clean_up_tokenization_spaces": False,
        "eos_token": EOS,
        "errors": "replace",
        "model_max_length": 4096,
        "pad_token": EOS,
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }


def write(out: Path, vocab_size: int = VOCAB_SIZE) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(vocab_size)
    (out / "tokenizer.json").write_text(tokenizer.to_str(pretty=False) + "\n", encoding="utf-8")
    config = json.dumps(tokenizer_config(tokenizer), ensure_ascii=False, indent=2)
    (out / "tokenizer_config.json").write_text(config + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    write(parser.parse_args().out)


if __name__ == "__main__":
    main()
