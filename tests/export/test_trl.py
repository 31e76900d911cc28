"""The TRL files in TRL itself (the optional `trl` extra: pip install -e '.[dev,trl]'): its data helpers
read them as the formats they claim to be, and DPOTrainer / KTOTrainer take two real steps on them
with a tiny randomly initialised model and a word-level tokenizer built here, offline."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import datasets
import pytest

from bot.bootstrap import App
from bot.export import Scope
from tests.export.seed import seed_round
from tests.export.test_bundle import export, load

trl = pytest.importorskip("trl", reason="TRL is an optional extra: pip install -e '.[dev,trl]' to run the TRL tests")
transformers = pytest.importorskip("transformers", reason="transformers comes with TRL's optional extra")
tokenizers = pytest.importorskip("tokenizers", reason="tokenizers comes with TRL's optional extra")

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }} [EOS] {% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def tiny_tokenizer(texts: list[str]) -> Any:
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    trainer = tokenizers.trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]", "[EOS]", "[BOS]"])
    tok.train_from_iterator(texts, trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]", bos_token="[BOS]"
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_model(tok: Any) -> Any:
    config = transformers.LlamaConfig(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
    )
    return transformers.LlamaForCausalLM(config)


def words(ds: datasets.Dataset) -> list[str]:
    out: list[str] = []
    for row in ds.to_list():
        for value in row.values():
            if isinstance(value, str):
                out.append(value)
            elif isinstance(value, list):
                out += [m["content"] for m in value if isinstance(m, dict) and "content" in m]
    return [*out, "system user assistant :"]


def train(trainer_cls: Any, config_cls: Any, ds: datasets.Dataset, tok: Any, out: Path) -> int:
    model = tiny_model(tok)
    with warnings.catch_warnings():  # the libraries warn about their own defaults
        warnings.simplefilter("ignore")
        args = config_cls(
            output_dir=str(out), max_steps=2, per_device_train_batch_size=2, report_to=[], use_cpu=True, save_strategy="no"
        )
        trainer = trainer_cls(model=model, ref_model=copy.deepcopy(model), args=args, train_dataset=ds, processing_class=tok)
        return int(trainer.train().global_step)


async def test_trl_reads_and_trains_on_the_exported_files(xapp: App, tmp_path: Path) -> None:
    s = await seed_round(xapp)
    root = (
        await export(xapp, tmp_path, Scope(s.community), formats=("trl", "trl-standard", "kto"), system_prompt=True)
    ).directory
    cache = tmp_path / "hf-cache"
    conv, std, kto = (load(root, cache, name) for name in ("trl", "trl-standard", "kto"))
    tok = tiny_tokenizer(words(conv) + words(std) + words(kto))
    from trl.data_utils import apply_chat_template, is_conversational, maybe_extract_prompt, unpair_preference_dataset

    assert all(is_conversational(r) for r in conv) and all(is_conversational(r) for r in kto)
    assert not any(is_conversational(r) for r in std)
    templated = apply_chat_template(conv[0], tok)
    assert templated["prompt"].startswith("system: ") and templated["prompt"].endswith("assistant: ")
    assert maybe_extract_prompt(std[0]) == std[0]  # the prompt is explicit: nothing left to extract
    unpaired = unpair_preference_dataset(conv.select_columns(["prompt", "chosen", "rejected"]))
    assert unpaired.num_rows == 2 * conv.num_rows and set(unpaired["label"]) == {True, False}
    assert train(trl.DPOTrainer, trl.DPOConfig, conv, tok, tmp_path / "dpo") == 2
    assert train(trl.DPOTrainer, trl.DPOConfig, std, tok, tmp_path / "dpo-standard") == 2
    assert train(trl.KTOTrainer, trl.KTOConfig, kto, tok, tmp_path / "kto") == 2
