"""The Blossom model family as published, each fact with where it was read.

Everything else (download, default output names, Modelfiles, `fit`) reads this table, so a
new release is one entry here. Every entry keeps, per fact, the source it was read from (a
BlossomLM commit, a Hugging Face model card or file, an ollama.com page). A fact no source
was found for is still recorded (the tools need a value) but listed in `unverified`, and
`models` shows it as such instead of stating it.

Short aliases `4b`, `9b`, `14b`, `34b` are the sizes of the `azure99/blossom` Ollama line
(v5 and v5.1); longer aliases name every release explicitly.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from blossom_edge.base.errors import NotFoundError
from blossom_edge.model.shape import ModelShape

BLOSSOM_V5_SYSTEM = (
    "A chat between a human and an artificial intelligence bot. "
    "The bot gives helpful, detailed, and polite answers to the human's questions."
)

OLLAMA_NAMESPACE = "azure99/blossom"
DEFAULT_SIZE = "9b"
DEFAULT_QTYPE = "q4_k_m"

# Where facts were read. Keys are short names used by the entries below; values are what a
# reader can open: a URL, or github:owner/repo@commit:path.
_BLOSSOMLM = "github:Azure99/BlossomLM@{}:README.md"
SOURCES: Mapping[str, str] = MappingProxyType({
    "readme-v5": _BLOSSOMLM.format("5018fc5ff58db9002f77239131f391e63b9a04ff"),
    "readme-v5-mistral": _BLOSSOMLM.format("0fc6192dc1831c7e746136783f252dc61f35c449"),
    "readme-v5-gpu": _BLOSSOMLM.format("5e51ca423fe1391ea18469ffc970cafb68457d97"),
    "readme-v5.1": _BLOSSOMLM.format("11863bd1be7e040e538cbac3a8667fb2a16049cd"),
    "readme-v6": _BLOSSOMLM.format("2b8a8af13c30e07ed9f17e4cbc9cccf212a51422"),
    "readme-v6.1": _BLOSSOMLM.format("d3d9e42b4be9019733f752f5c43b4cee985d6c82"),
    "modelfile-v5": "github:Azure99/BlossomLM@fe1b3fc69e9b16e36d9283c61011b90d197fe192:inference/ollama/Modelfile",
    "card-v5.1-9b": "https://huggingface.co/Azure99/blossom-v5.1-9b/blob/main/README.md",
    "card-v5-llama3-8b": "https://huggingface.co/Azure99/blossom-v5-llama3-8b/blob/91ea35e2e65516988021e4bb3b908e3e497e05c2/README.md",
    "tokens-v5-llama3-8b": "https://huggingface.co/Azure99/blossom-v5-llama3-8b/blob/refs%2Fpr%2F3/special_tokens_map.json",
    "template-v5-32b": "https://huggingface.co/Azure99/blossom-v5-32b/commit/c59dc678f2cb9cfc95fbae7748a06375505a2d7f",
    "leaderboard-v5-4b": "https://huggingface.co/datasets/open-llm-leaderboard/requests/blame/7cc881ff3c8fe1dadc36dcc1d1c3b162cd13599b/Azure99/blossom-v5-4b_eval_request_False_bfloat16_Original.json",
    "leaderboard-v5-32b": "https://huggingface.co/datasets/open-llm-leaderboard/requests/blame/refs%2Fpr%2F44/Azure99/blossom-v5-32b_eval_request_False_bfloat16_Original.json",
    "leaderboard-v5.1-34b": "https://huggingface.co/datasets/open-llm-leaderboard/requests/blame/b9196f8be2bc6312c632bfbaa7810a1cceef2e84/Azure99/blossom-v5.1-34b_eval_request_False_bfloat16_Original.json",
    "card-v6-32b": "https://huggingface.co/Azure99/Blossom-V6-32B",
    "gguf-v6-14b": "https://huggingface.co/Azure99/Blossom-V6-14B-GGUF/tree/main",
    "ollama-v6-14b": "https://ollama.com/azure99/blossom-v6:14b-q6_k/blobs/b54518ec5fb1",
    "ollama-v6": "https://ollama.com/azure99/blossom-v6:32b",
    "ollama-v6.1-14b": "https://ollama.com/azure99/blossom-v6.1:14b-q4_k_m/blobs/fad16df4e019",
    "card-v6.3-36b": "https://huggingface.co/Azure99/Blossom-V6.3-36B",
    "ollama-v6.3-14b": "https://ollama.com/azure99/blossom-v6.3:14b-q4_k_m/blobs/d3f1669c22c8",
    "ollama-v6.3-30b": "https://ollama.com/azure99/blossom-v6.3:30b-q4_0/blobs/1005f75bda25",
    "ollama-v6.3-30b-page": "https://ollama.com/azure99/blossom-v6.3:30b-q6_k",
    "hub-v6.4-9b": "https://huggingface.co/Azure99/Blossom-V6.4-9B/discussions",
    "gguf-v6.4-9b": "https://huggingface.co/Azure99/Blossom-V6.4-9B-GGUF",
    "card-v6.4-35b": "https://huggingface.co/Azure99/Blossom-V6.4-35B-A3B",
    "params-v5.1-9b": "https://ollama.com/azure99/blossom:9b-q6_k/blobs/e534fac94248",
    "card-v7-27b": "https://huggingface.co/Azure99/Blossom-V7-27B",
    "page-v7-9b": "https://featherless.ai/models/Azure99/Blossom-V7-9B",
    "card-v7.1-35b": "https://huggingface.co/Azure99/Blossom-V7.1-35B-A3B",
    "gguf-v7.1-9b": "https://huggingface.co/Azure99/Blossom-V7.1-9B-GGUF",
    "page-v7.1-9b": "https://featherless.ai/models/Azure99/Blossom-V7.1-9B",
    # Qwen3.5 base shapes: the 9B's config.json as a fine-tune republishes it (model_name Qwen/Qwen3.5-9B;
    # its KV-head count is on the Vultr page), the 27B's card and a Megatron recipe, the 35B-A3B's recipe.
    "config-qwen3.5-9b": "https://huggingface.co/khtsly/Mini-Coder/blob/main/config.json",
    "kv-qwen3.5-9b": "https://docs.vultr.com/models/alibaba-qwen-35/qwen3.5-9b/nvidia",
    "card-qwen3.5-27b": "https://huggingface.co/Qwen/Qwen3.5-27B/commit/3b2962802c141fcffb992b4e13e4cf9012fdaa13",
    "recipe-qwen3.5-27b": "github:radixark/miles@51b148c7c09036d7ea32eb8f77c3c56b4e32983f:scripts/models/qwen3.5-27B.sh",
    "recipe-qwen3.5-35b-a3b": "github:THUDM/slime@10cefc3b91ba5db960c74037390f4e2596f5773d:"
                              "scripts/models/qwen3.5-35B-A3B.sh",
})

# The facts every entry states; the ones an entry has no source for are its `unverified`.
FACTS = ("repo_id", "base_model", "architecture", "params_b", "context_length", "license", "chat_format",
         "eos_token", "ollama", "shape")


@dataclass(frozen=True)
class ChatFormat:
    """A dialogue layout known from a model card, used when a checkpoint carries no chat template."""

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


# Plain ChatML without a system line: what `quantize`'s check prompts a GGUF with when its own
# template is ChatML and the catalog knows no format. No Blossom source names a system line for it.
CHATML = ChatFormat("chatml", "", "<|im_end|>", "<|im_start|>user\n", "<|im_start|>assistant\n")


# (layers, hidden, KV heads, head dim, vocab, FFN width) per base model: what memory estimates need
# before a download. Each entry's `sources["shape"]` says where its figures were read, if anywhere.
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
    "Qwen/Qwen3-14B-Base": (40, 5120, 8, 128, 151936, 17408),
}.items()}
# Qwen3-30B-A3B: 48 layers of 128 experts (gate, up, down of 2048 × 768), 8 routed per token,
# so 28.99 B of its 30.5 B weights are experts that a token mostly does not read.
BASE_SHAPES["Qwen/Qwen3-30B-A3B-Base"] = ModelShape(48, 2048, 4, 128, 151936, 768, n_expert=128, n_expert_used=8,
                                                    expert_share=48 * 128 * 3 * 2048 * 768 / 30.5e9)


def _gated_delta_state(k_heads: int, v_heads: int, head_dim: int, conv_kernel: int) -> int:
    """f32 bytes one Qwen3.5 linear-attention layer keeps per sequence, as llama.cpp sizes it: a conv
    state of (kernel - 1) × (inner + 2 × K heads × head dim) and a delta-net state of head dim × inner,
    inner being V heads × head dim (the GGUF reader's `_recurrent_layers` computes the same)."""
    inner = v_heads * head_dim
    return 4 * ((conv_kernel - 1) * (inner + 2 * k_heads * head_dim) + head_dim * inner)


# Qwen3.5: three gated-delta-net layers to one full-attention layer (full_attention_interval 4), the
# full-attention ones with 256-wide heads; a vocabulary of 248320. Each base's figures are cited by the
# entries' `sources["shape"]`.
_QWEN35_STATE = _gated_delta_state(k_heads=16, v_heads=32, head_dim=128, conv_kernel=4)
BASE_SHAPES["Qwen/Qwen3.5-9B-Base"] = ModelShape(32, 4096, 4, 256, 248320, 12288, n_recurrent_layers=24,
                                                 recurrent_state_bytes=_QWEN35_STATE)
# The 27B's linear-attention head counts are in no source found, so its per-layer state is left out
# (an underestimate of a few MB per layer at most).
BASE_SHAPES["Qwen/Qwen3.5-27B"] = ModelShape(64, 5120, 4, 256, 248320, 17408, n_recurrent_layers=48)
# 35B-A3B: 40 layers of 256 experts (gate, up, down of 2048 × 512), 8 routed per token, plus a shared expert.
BASE_SHAPES["Qwen/Qwen3.5-35B-A3B-Base"] = ModelShape(
    40, 2048, 2, 256, 248320, 512, n_expert=256, n_expert_used=8, expert_share=40 * 256 * 3 * 2048 * 512 / 35e9,
    n_recurrent_layers=30, recurrent_state_bytes=_QWEN35_STATE)


@dataclass(frozen=True)
class ModelInfo:
    """One Blossom release; `params_b` is billions of parameters as the model card counts them.

    `line` is the release line (`v5`, `v6.1`, …); `published` the Ollama model:tag the publisher
    serves it under, when there is one; `sources` maps each fact to a key of SOURCES.
    """

    alias: str
    repo_id: str
    line: str
    base_model: str
    architecture: str
    params_b: float
    context_length: int
    chat: ChatFormat | None
    license: str = "apache-2.0"
    published: str | None = None
    # The end-of-text token where no chat format carries one (read off the GGUF's eos id).
    eos: str | None = None
    other_aliases: tuple[str, ...] = field(default=())
    sources: Mapping[str, str] = field(default_factory=dict)
    # Published sampling defaults under Ollama's PARAMETER names; empty where no source gives them.
    parameters: tuple[tuple[str, float | int], ...] = ()
    # Takes images besides text (a vision tower; in GGUF a separate projector file).
    vision: bool = False
    # Carries multi-token-prediction layers for speculative decoding.
    mtp: bool = False
    # Reasons before answering, always: the effort levels the card names ("adaptive" when it names none).
    reasoning: tuple[str, ...] = ()

    @property
    def shape(self) -> ModelShape | None:
        """The base model's dimensions, or None where no figures are recorded."""
        return BASE_SHAPES.get(self.base_model)

    @property
    def kind(self) -> str:
        """Dense or mixture of experts, and the layer kinds: what decides memory against speed.

        The architecture says which kind a model is; counts come from its shape when recorded.
        """
        shape = self.shape
        if shape is not None and shape.n_expert:
            text = f"MoE, {shape.n_expert} experts, {shape.n_expert_used} active"
        else:
            text = "MoE" if "Moe" in self.architecture else "dense"
        if self.architecture.startswith("Qwen3_5"):
            text += "; linear + full attention"
        for flag, label in ((self.vision, "vision"), (self.mtp, "MTP"), (bool(self.reasoning), "reasoning")):
            if flag:
                text += f"; {label}"
        return text

    @property
    def name(self) -> str:
        """The file-name stem: `blossom-v5-4b` from `Azure99/blossom-v5-4b`."""
        return self.repo_id.split("/", 1)[1].lower()

    @property
    def unverified(self) -> tuple[str, ...]:
        """The facts of this entry no source was found for."""
        return tuple(f for f in FACTS if f not in self.sources)

    def gguf_filename(self, qtype: str) -> str:
        """The file `quantize` names for a quant type: `blossom-v5-4b-Q4_K_M.gguf` (the publisher's
        own GGUF repositories use lower case, `blossom-v6-14b-q4_k_m.gguf`)."""
        from blossom_edge.model.naming import gguf_name

        return gguf_name(self.name, qtype)

    def ollama_name(self, gpu: bool = False) -> str:
        """The published Ollama model:tag (with `-gpu` for the all-GPU variant), or the local name
        `ollama create` would use when the publisher has none for this release."""
        if self.published is None:
            return self.local_ollama_name(DEFAULT_QTYPE, gpu)
        return f"{self.published}-gpu" if gpu else self.published

    def local_ollama_name(self, qtype: str, gpu: bool = False) -> str:
        """The name `ollama create` writes by default: `blossom-v5-4b:q4_k_m`, outside any namespace,
        so a model pulled from the publisher is never replaced by accident."""
        tag = qtype.lower()
        return f"{self.name}:{tag}-gpu" if gpu else f"{self.name}:{tag}"

    def to_dict(self) -> dict:
        """A flat description for `--json`: what a script needs, with every fact's source."""
        chat = self.chat
        shape = self.shape
        return {
            "alias": self.alias, "aliases": [self.alias, *self.other_aliases], "repo_id": self.repo_id,
            "name": self.name, "line": self.line, "version": self.line, "base_model": self.base_model,
            "architecture": self.architecture, "params_b": self.params_b, "context_length": self.context_length,
            "license": self.license, "chat_format": chat.name if chat else None,
            "eos_token": chat.eos_token if chat else self.eos, "system_prompt": chat.system if chat else None,
            "ollama": self.published, "ollama_gpu": f"{self.published}-gpu" if self.published else None,
            "shape": shape.dimensions() if shape else None, "kind": self.kind,
            "parameters": dict(self.parameters), "vision": self.vision, "mtp": self.mtp,
            "reasoning": list(self.reasoning),
            "sources": {fact: SOURCES[key] for fact, key in self.sources.items()},
            "unverified": list(self.unverified),
        }


def _sources(**facts: str) -> Mapping[str, str]:
    return MappingProxyType(facts)


# The v5 dialogue layout, ended by each base model's end-of-text token (Qwen and Yi share one).
_DIALOGUE_ENDOFTEXT = _blossom_dialogue("<|endoftext|>")
_DIALOGUE_LLAMA2 = _blossom_dialogue("</s>")
_DIALOGUE_LLAMA3 = _blossom_dialogue("<|end_of_text|>")

_V5 = dict(repo_id="readme-v5", base_model="readme-v5", chat_format="card-v5.1-9b", eos_token="card-v5.1-9b")
_V51 = dict(repo_id="readme-v5.1", base_model="readme-v5.1", chat_format="card-v5.1-9b", eos_token="card-v5.1-9b")

MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("v5-4b", "Azure99/blossom-v5-4b", "v5", "Qwen/Qwen1.5-4B", "Qwen2ForCausalLM",
              3.95, 32768, _DIALOGUE_ENDOFTEXT, published="azure99/blossom:4b", other_aliases=("4b",),
              sources=_sources(**_V5, architecture="leaderboard-v5-4b", params_b="leaderboard-v5-4b")),
    ModelInfo("v5-9b", "Azure99/blossom-v5-9b", "v5", "01-ai/Yi-9B", "LlamaForCausalLM",
              8.83, 4096, _DIALOGUE_ENDOFTEXT, sources=_sources(**_V5)),
    ModelInfo("v5-14b", "Azure99/blossom-v5-14b", "v5", "Qwen/Qwen1.5-14B", "Qwen2ForCausalLM",
              14.17, 32768, _DIALOGUE_ENDOFTEXT, published="azure99/blossom:14b", other_aliases=("14b",),
              sources=_sources(**_V5)),
    ModelInfo("v5-32b", "Azure99/blossom-v5-32b", "v5", "Qwen/Qwen1.5-32B", "Qwen2ForCausalLM",
              32.51, 32768, _DIALOGUE_ENDOFTEXT,
              sources=_sources(**{**_V5, "chat_format": "template-v5-32b", "eos_token": "template-v5-32b"},
                               architecture="leaderboard-v5-32b", params_b="leaderboard-v5-32b")),
    ModelInfo("v5-34b", "Azure99/blossom-v5-34b", "v5", "01-ai/Yi-34B", "LlamaForCausalLM",
              34.39, 4096, _DIALOGUE_ENDOFTEXT, sources=_sources(**_V5)),
    ModelInfo("v5-mistral-7b", "Azure99/blossom-v5-mistral-7b", "v5", "mistralai/Mistral-7B-v0.1",
              "MistralForCausalLM", 7.24, 32768, _DIALOGUE_LLAMA2,
              sources=_sources(repo_id="readme-v5-mistral", base_model="readme-v5-mistral",
                               chat_format="card-v5.1-9b")),
    ModelInfo("v5-llama3-8b", "Azure99/blossom-v5-llama3-8b", "v5", "meta-llama/Meta-Llama-3-8B",
              "LlamaForCausalLM", 8.03, 8192, _DIALOGUE_LLAMA3,
              sources=_sources(repo_id="readme-v5", base_model="readme-v5", license="card-v5-llama3-8b",
                               chat_format="card-v5-llama3-8b", eos_token="tokens-v5-llama3-8b")),
    ModelInfo("v5.1-9b", "Azure99/blossom-v5.1-9b", "v5.1", "01-ai/Yi-1.5-9B", "LlamaForCausalLM",
              8.83, 4096, _DIALOGUE_ENDOFTEXT, published="azure99/blossom:9b", other_aliases=("9b",),
              sources=_sources(**_V51, license="card-v5.1-9b", parameters="params-v5.1-9b"),
              parameters=(("repeat_penalty", 1.05), ("temperature", 0.5), ("top_k", 50), ("top_p", 0.85))),
    ModelInfo("v5.1-34b", "Azure99/blossom-v5.1-34b", "v5.1", "01-ai/Yi-1.5-34B", "LlamaForCausalLM",
              34.39, 4096, _DIALOGUE_ENDOFTEXT, published="azure99/blossom:34b", other_aliases=("34b",),
              sources=_sources(**_V51, architecture="leaderboard-v5.1-34b", params_b="leaderboard-v5.1-34b")),
    # v6: Qwen2.5 bases; the model card, README and Ollama pages give no chat layout, so none is assumed.
    ModelInfo("v6-7b", "Azure99/Blossom-V6-7B", "v6", "Qwen/Qwen2.5-7B", "Qwen2ForCausalLM",
              7.62, 131072, None, eos="<|endoftext|>", published="azure99/blossom-v6:7b",
              sources=_sources(repo_id="readme-v6", base_model="card-v6-32b", license="card-v6-32b",
                               ollama="readme-v6")),
    ModelInfo("v6-14b", "Azure99/Blossom-V6-14B", "v6", "Qwen/Qwen2.5-14B", "Qwen2ForCausalLM",
              14.77, 131072, None, eos="<|endoftext|>", published="azure99/blossom-v6:14b",
              sources=_sources(repo_id="readme-v6", base_model="card-v6-32b", license="card-v6-32b",
                               ollama="ollama-v6-14b", architecture="ollama-v6-14b",
                               context_length="ollama-v6-14b", shape="ollama-v6-14b",
                               eos_token="ollama-v6-14b")),
    ModelInfo("v6-32b", "Azure99/Blossom-V6-32B", "v6", "Qwen/Qwen2.5-32B", "Qwen2ForCausalLM",
              32.76, 131072, None, eos="<|endoftext|>", published="azure99/blossom-v6:32b",
              sources=_sources(repo_id="readme-v6", base_model="card-v6-32b", license="card-v6-32b",
                               ollama="ollama-v6")),
    ModelInfo("v6.1-8b", "Azure99/Blossom-V6.1-8B", "v6.1", "Qwen/Qwen3-8B-Base", "Qwen3ForCausalLM",
              8.19, 32768, None, eos="<|endoftext|>", published="azure99/blossom-v6.1:8b",
              sources=_sources(repo_id="readme-v6.1", base_model="readme-v6.1", ollama="ollama-v6.1-14b")),
    ModelInfo("v6.1-14b", "Azure99/Blossom-V6.1-14B", "v6.1", "Qwen/Qwen3-14B-Base", "Qwen3ForCausalLM",
              14.77, 32768, None, eos="<|endoftext|>", published="azure99/blossom-v6.1:14b",
              sources=_sources(repo_id="readme-v6.1", base_model="readme-v6.1", ollama="ollama-v6.1-14b",
                               architecture="ollama-v6.1-14b", context_length="ollama-v6.1-14b",
                               shape="ollama-v6.1-14b", eos_token="ollama-v6.1-14b")),
    ModelInfo("v6.1-32b", "Azure99/Blossom-V6.1-32B", "v6.1", "Qwen/Qwen2.5-32B", "Qwen2ForCausalLM",
              32.76, 131072, None, eos="<|endoftext|>", published="azure99/blossom-v6.1:32b",
              sources=_sources(repo_id="readme-v6.1", base_model="readme-v6.1", ollama="ollama-v6.1-14b")),
    ModelInfo("v6.1-glm-32b", "Azure99/Blossom-V6.1-GLM-32B", "v6.1", "THUDM/GLM-4-32B-Base-0414",
              "Glm4ForCausalLM", 32.57, 32768, None, published="azure99/blossom-v6.1:glm-32b",
              sources=_sources(repo_id="readme-v6.1", base_model="readme-v6.1", ollama="readme-v6.1")),
    ModelInfo("v6.3-8b", "Azure99/Blossom-V6.3-8B", "v6.3", "Qwen/Qwen3-8B-Base", "Qwen3ForCausalLM",
              8.19, 32768, None, eos="<|endoftext|>", published="azure99/blossom-v6.3:8b",
              sources=_sources(repo_id="card-v6.3-36b", base_model="card-v6.3-36b", ollama="ollama-v6.3-14b")),
    ModelInfo("v6.3-14b", "Azure99/Blossom-V6.3-14B", "v6.3", "Qwen/Qwen3-14B-Base", "Qwen3ForCausalLM",
              14.77, 32768, None, eos="<|endoftext|>", published="azure99/blossom-v6.3:14b",
              sources=_sources(repo_id="card-v6.3-36b", base_model="card-v6.3-36b", ollama="ollama-v6.3-14b",
                               architecture="ollama-v6.3-14b", context_length="ollama-v6.3-14b",
                               shape="ollama-v6.3-14b", eos_token="ollama-v6.3-14b")),
    ModelInfo("v6.3-30b-a3b", "Azure99/Blossom-V6.3-30B-A3B", "v6.3", "Qwen/Qwen3-30B-A3B-Base",
              "Qwen3MoeForCausalLM", 30.5, 32768, None, eos="<|endoftext|>", published="azure99/blossom-v6.3:30b",
              sources=_sources(repo_id="card-v6.3-36b", base_model="card-v6.3-36b", ollama="ollama-v6.3-30b",
                               architecture="ollama-v6.3-30b", context_length="ollama-v6.3-30b",
                               params_b="ollama-v6.3-30b-page", shape="ollama-v6.3-30b",
                               eos_token="ollama-v6.3-30b")),
    ModelInfo("v6.3-36b", "Azure99/Blossom-V6.3-36B", "v6.3", "ByteDance-Seed/Seed-OSS-36B-Base",
              "SeedOssForCausalLM", 36.15, 32768, None, published="azure99/blossom-v6.3:36b",
              sources=_sources(repo_id="card-v6.3-36b", base_model="card-v6.3-36b", architecture="card-v6.3-36b",
                               license="card-v6.3-36b", ollama="ollama-v6.3-14b")),
    # v6.4: "a small number of multimodal samples added to preserve the multimodal capabilities of the Base
    # models" (the 35B-A3B card), so both keep their vision tower.
    ModelInfo("v6.4-9b", "Azure99/Blossom-V6.4-9B", "v6.4", "Qwen/Qwen3.5-9B-Base",
              "Qwen3_5ForConditionalGeneration", 9.0, 32768, None, vision=True,
              sources=_sources(repo_id="hub-v6.4-9b", architecture="hub-v6.4-9b", license="hub-v6.4-9b",
                               shape="config-qwen3.5-9b", vision="card-v6.4-35b")),
    ModelInfo("v6.4-35b-a3b", "Azure99/Blossom-V6.4-35B-A3B", "v6.4", "Qwen/Qwen3.5-35B-A3B-Base",
              "Qwen3_5MoeForConditionalGeneration", 35.0, 32768, None, vision=True,
              sources=_sources(repo_id="card-v6.4-35b", architecture="card-v6.4-35b",
                               shape="recipe-qwen3.5-35b-a3b", vision="card-v6.4-35b")),
    # v7: multimodal, MTP layers, always-on adaptive reasoning (one level), tool calls with interleaved
    # reasoning, 262144-token context, and a custom chat template the card says to keep: so no chat
    # format is assumed (the checkpoint's own template is used). The card is the family's; the 9B's
    # repository, base, size and licence are on a model-hosting page; no 35B-A3B repository was found.
    ModelInfo("v7-9b", "Azure99/Blossom-V7-9B", "v7", "Qwen/Qwen3.5-9B-Base", "Qwen3_5ForConditionalGeneration",
              9.0, 262144, None, vision=True, mtp=True, reasoning=("adaptive",),
              sources=_sources(repo_id="page-v7-9b", base_model="page-v7-9b", params_b="page-v7-9b",
                               context_length="card-v7-27b", license="page-v7-9b", shape="config-qwen3.5-9b",
                               vision="card-v7-27b", mtp="card-v7-27b", reasoning="card-v7-27b")),
    ModelInfo("v7-27b", "Azure99/Blossom-V7-27B", "v7", "Qwen/Qwen3.5-27B", "Qwen3_5ForConditionalGeneration",
              27.0, 262144, None, vision=True, mtp=True, reasoning=("adaptive",),
              sources=_sources(repo_id="card-v7-27b", params_b="card-v7-27b", context_length="card-v7-27b",
                               shape="card-qwen3.5-27b", vision="card-v7-27b", mtp="card-v7-27b",
                               reasoning="card-v7-27b")),
    ModelInfo("v7-35b-a3b", "Azure99/Blossom-V7-35B-A3B", "v7", "Qwen/Qwen3.5-35B-A3B-Base",
              "Qwen3_5MoeForConditionalGeneration", 35.0, 262144, None, vision=True, mtp=True,
              reasoning=("adaptive",),
              sources=_sources(context_length="card-v7-27b", shape="recipe-qwen3.5-35b-a3b", vision="card-v7-27b",
                               mtp="card-v7-27b", reasoning="card-v7-27b")),
    # v7.1: as v7, with two reasoning efforts, medium and max (the default). Its card says "its Qwen base
    # models" without naming them; the 9B's base is named on a model-hosting page.
    ModelInfo("v7.1-9b", "Azure99/Blossom-V7.1-9B", "v7.1", "Qwen/Qwen3.5-9B-Base",
              "Qwen3_5ForConditionalGeneration", 9.0, 262144, None, vision=True, mtp=True,
              reasoning=("medium", "max"),
              sources=_sources(repo_id="gguf-v7.1-9b", base_model="page-v7.1-9b", params_b="page-v7.1-9b",
                               context_length="card-v7.1-35b", license="page-v7.1-9b", shape="config-qwen3.5-9b",
                               vision="card-v7.1-35b", mtp="card-v7.1-35b", reasoning="card-v7.1-35b")),
    ModelInfo("v7.1-27b", "Azure99/Blossom-V7.1-27B", "v7.1", "Qwen/Qwen3.5-27B", "Qwen3_5ForConditionalGeneration",
              27.0, 262144, None, vision=True, mtp=True, reasoning=("medium", "max"),
              sources=_sources(context_length="card-v7.1-35b", shape="card-qwen3.5-27b", vision="card-v7.1-35b",
                               mtp="card-v7.1-35b", reasoning="card-v7.1-35b")),
    ModelInfo("v7.1-35b-a3b", "Azure99/Blossom-V7.1-35B-A3B", "v7.1", "Qwen/Qwen3.5-35B-A3B-Base",
              "Qwen3_5MoeForConditionalGeneration", 35.0, 262144, None, vision=True, mtp=True,
              reasoning=("medium", "max"),
              sources=_sources(repo_id="card-v7.1-35b", params_b="card-v7.1-35b", context_length="card-v7.1-35b",
                               shape="recipe-qwen3.5-35b-a3b", vision="card-v7.1-35b", mtp="card-v7.1-35b",
                               reasoning="card-v7.1-35b")),
)

# The lines in release order, for grouping.
LINES: tuple[str, ...] = tuple(dict.fromkeys(m.line for m in MODELS))
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
