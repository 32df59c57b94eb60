"""The Blossom model family as data: aliases → repository, base model, architecture, chat format.

Everything else (download, default output names, Modelfiles, `fit`) reads this table, so a
new release is one entry here. Short aliases `4b`, `9b`, `14b`, `34b` are the sizes of the
published `azure99/blossom` Ollama line; longer aliases name every release explicitly.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field

from blossom_edge.errors import NotFoundError
from blossom_edge.shape import ModelShape

BLOSSOM_V5_SYSTEM = (
    "A chat between a human and an artificial intelligence bot. "
    "The bot gives helpful, detailed, and polite answers to the human's questions."
)
BLOSSOM_V6_SYSTEM = "You are Blossom, a helpful, respectful and honest assistant."

OLLAMA_NAMESPACE = "azure99/blossom"
DEFAULT_SIZE = "9b"
DEFAULT_QTYPE = "q4_k_m"


@dataclass(frozen=True)
class ChatFormat:
    """How one release lays out a dialogue; Modelfile templates and verification prompts use it."""

    name: str
    system: str
    eos_token: str
    # The text that starts a user turn; the model must stop before writing it itself.
    user_prefix: str
    assistant_prefix: str

    def stop_sequences(self) -> list[str]:
        """Where generation must end: the end-of-turn token and the next user turn."""
        return [self.eos_token, self.user_prefix.strip()]

    def prompt(self, user: str, system: str | None = None) -> str:
        """A single-turn prompt in this format, ready for the model to answer."""
        sys_text = self.system if system is None else system
        if self.name == "chatml":
            head = f"<|im_start|>system\n{sys_text}<|im_end|>\n" if sys_text else ""
            return f"{head}{self.user_prefix}{user}<|im_end|>\n{self.assistant_prefix}"
        head = sys_text if sys_text else ""
        return f"{head}{self.user_prefix}{user}{self.assistant_prefix}"


def _blossom_dialogue(eos: str) -> ChatFormat:
    return ChatFormat("blossom", BLOSSOM_V5_SYSTEM, eos, "\n|Human|: ", "\n|Bot|: ")


CHATML = ChatFormat("chatml", BLOSSOM_V6_SYSTEM, "<|im_end|>", "<|im_start|>user\n", "<|im_start|>assistant\n")


# (layers, hidden, KV heads, head dim, vocab, FFN width) from each base model's config.json:
# what memory estimates need before a download.
BASE_SHAPES: dict[str, ModelShape] = {k: ModelShape(*v) for k, v in {
    "Qwen/Qwen1.5-4B": (40, 2560, 20, 128, 151936, 6912),
    "01-ai/Yi-9B": (48, 4096, 4, 128, 64000, 11008),
    "01-ai/Yi-1.5-9B": (48, 4096, 4, 128, 64000, 11008),
    "Qwen/Qwen1.5-14B": (40, 5120, 40, 128, 152064, 13696),
    "Qwen/Qwen1.5-32B": (64, 5120, 8, 128, 152064, 27392),
    "01-ai/Yi-34B": (60, 7168, 8, 128, 64000, 20480),
    "01-ai/Yi-1.5-34B": (60, 7168, 8, 128, 64000, 20480),
    "mistralai/Mistral-7B-v0.1": (32, 4096, 8, 128, 32000, 14336),
    "meta-llama/Meta-Llama-3-8B": (32, 4096, 8, 128, 128256, 14336),
    "Qwen/Qwen2.5-7B": (28, 3584, 4, 128, 152064, 18944),
    "Qwen/Qwen2.5-14B": (48, 5120, 8, 128, 152064, 13824),
    "Qwen/Qwen2.5-32B": (64, 5120, 8, 128, 152064, 27648),
    "Qwen/Qwen3-8B-Base": (36, 4096, 8, 128, 151936, 12288),
}.items()}


@dataclass(frozen=True)
class ModelInfo:
    """One Blossom release; `params_b` is billions of parameters as the model card counts them."""

    alias: str
    repo_id: str
    version: str
    base_model: str
    architecture: str
    params_b: float
    context_length: int
    chat: ChatFormat
    license: str = "apache-2.0"
    published_tag: str | None = None
    other_aliases: tuple[str, ...] = field(default=())

    @property
    def shape(self) -> ModelShape:
        return BASE_SHAPES[self.base_model]

    @property
    def name(self) -> str:
        """The file-name stem: `blossom-v5-4b` from `Azure99/blossom-v5-4b`."""
        return self.repo_id.split("/", 1)[1].lower()

    def gguf_filename(self, qtype: str) -> str:
        """The file `quantize` names for a quant type: `blossom-v5-4b-Q4_K_M.gguf`."""
        from blossom_edge.naming import gguf_name

        return gguf_name(self.name, qtype)

    def ollama_name(self, gpu: bool = False) -> str:
        """The Ollama model:tag this release is (or would be) published under."""
        tag = self.published_tag or self.alias
        if gpu:
            tag = f"{tag}-gpu"
        return f"{OLLAMA_NAMESPACE}:{tag}"

    def to_dict(self) -> dict:
        """A flat description for `--json`: what a script needs, not our internals."""
        data = asdict(self)
        chat = data.pop("chat")
        data.update(
            name=self.name,
            chat_format=chat["name"],
            eos_token=chat["eos_token"],
            system_prompt=chat["system"],
            ollama=self.ollama_name(),
            ollama_gpu=self.ollama_name(gpu=True),
            aliases=[self.alias, *self.other_aliases],
            shape=self.shape.dimensions(),
        )
        data.pop("other_aliases")
        return data


# The v5 dialogue layout, ended by each base model's end-of-text token (Qwen and Yi share one).
_DIALOGUE_ENDOFTEXT = _blossom_dialogue("<|endoftext|>")
_DIALOGUE_LLAMA2 = _blossom_dialogue("</s>")
_DIALOGUE_LLAMA3 = _blossom_dialogue("<|end_of_text|>")

MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("v5-4b", "Azure99/blossom-v5-4b", "v5", "Qwen/Qwen1.5-4B", "Qwen2ForCausalLM",
              3.95, 32768, _DIALOGUE_ENDOFTEXT, published_tag="4b", other_aliases=("4b",)),
    ModelInfo("v5-9b", "Azure99/blossom-v5-9b", "v5", "01-ai/Yi-9B", "LlamaForCausalLM",
              8.83, 4096, _DIALOGUE_ENDOFTEXT),
    ModelInfo("v5-14b", "Azure99/blossom-v5-14b", "v5", "Qwen/Qwen1.5-14B", "Qwen2ForCausalLM",
              14.17, 32768, _DIALOGUE_ENDOFTEXT, published_tag="14b", other_aliases=("14b",)),
    ModelInfo("v5-32b", "Azure99/blossom-v5-32b", "v5", "Qwen/Qwen1.5-32B", "Qwen2ForCausalLM",
              32.51, 32768, _DIALOGUE_ENDOFTEXT),
    ModelInfo("v5-34b", "Azure99/blossom-v5-34b", "v5", "01-ai/Yi-34B", "LlamaForCausalLM",
              34.39, 4096, _DIALOGUE_ENDOFTEXT),
    ModelInfo("v5-mistral-7b", "Azure99/blossom-v5-mistral-7b", "v5", "mistralai/Mistral-7B-v0.1",
              "MistralForCausalLM", 7.24, 32768, _DIALOGUE_LLAMA2),
    ModelInfo("v5-llama3-8b", "Azure99/blossom-v5-llama3-8b", "v5", "meta-llama/Meta-Llama-3-8B",
              "LlamaForCausalLM", 8.03, 8192, _DIALOGUE_LLAMA3, license="llama3"),
    ModelInfo("v5.1-9b", "Azure99/blossom-v5.1-9b", "v5.1", "01-ai/Yi-1.5-9B", "LlamaForCausalLM",
              8.83, 4096, _DIALOGUE_ENDOFTEXT, published_tag="9b", other_aliases=("9b",)),
    ModelInfo("v5.1-34b", "Azure99/blossom-v5.1-34b", "v5.1", "01-ai/Yi-1.5-34B", "LlamaForCausalLM",
              34.39, 4096, _DIALOGUE_ENDOFTEXT, published_tag="34b", other_aliases=("34b",)),
    ModelInfo("v6-7b", "Azure99/Blossom-V6-7B", "v6", "Qwen/Qwen2.5-7B", "Qwen2ForCausalLM",
              7.62, 32768, CHATML),
    ModelInfo("v6-14b", "Azure99/Blossom-V6-14B", "v6", "Qwen/Qwen2.5-14B", "Qwen2ForCausalLM",
              14.77, 32768, CHATML),
    ModelInfo("v6-32b", "Azure99/Blossom-V6-32B", "v6", "Qwen/Qwen2.5-32B", "Qwen2ForCausalLM",
              32.76, 32768, CHATML),
    ModelInfo("v6.1-8b", "Azure99/Blossom-V6.1-8B", "v6.1", "Qwen/Qwen3-8B-Base", "Qwen3ForCausalLM",
              8.19, 32768, CHATML),
)

PUBLISHED_SIZES: tuple[str, ...] = ("4b", "9b", "14b", "34b")


def _index() -> dict[str, ModelInfo]:
    table: dict[str, ModelInfo] = {}
    for model in MODELS:
        for key in (model.alias, *model.other_aliases, model.repo_id.lower(), model.name):
            table[key.lower()] = model
    return table


def lookup(alias: str) -> ModelInfo | None:
    """The catalog entry for an alias, repo id or name (case-insensitive), or None."""
    return _index().get(alias.lower().split("@", 1)[0])


def resolve(alias: str) -> ModelInfo:
    """Like lookup, but an unknown alias is an error that suggests the nearest names."""
    model = lookup(alias)
    if model is not None:
        return model
    known = sorted({m.alias for m in MODELS} | set(PUBLISHED_SIZES))
    near = difflib.get_close_matches(alias.lower(), known, n=3)
    hint = f" (did you mean {', '.join(near)}?)" if near else f"; known: {', '.join(known)}"
    raise NotFoundError(f"unknown model alias '{alias}'{hint}")


def published() -> list[ModelInfo]:
    """The models of the published `azure99/blossom` Ollama line, in size order."""
    return [resolve(size) for size in PUBLISHED_SIZES]
