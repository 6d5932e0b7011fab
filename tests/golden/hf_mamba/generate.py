"""Golden values for loading Hugging Face Mamba checkpoints (issue: real
checkpoints). Builds a tiny random `MambaForCausalLM` with `transformers`
(its pure-PyTorch path, on CPU), saves it with `save_pretrained` into
`tiny/`, and writes `tiny.json`: a prompt, the logits at every position, and
the greedy continuation. The parameters are perturbed from the reference
initialisation (D = 1, A_log = log(1..N), ...) so that every tensor matters.

Then the reverse: `from_crate/` holds a model saved by this crate
(`cargo test --test lineage hub -- --ignored write_crate_model` writes it);
if present, it is loaded here with `transformers` and its logits compared
with the ones the crate wrote beside it.

Run from the repository root: python3 tests/golden/hf_mamba/generate.py
"""
import json
import pathlib

import torch
from safetensors.torch import save_file
from transformers import MambaConfig, MambaForCausalLM

HERE = pathlib.Path(__file__).parent
PROMPT = [3, 17, 42, 5, 60, 8, 8, 21, 33, 1, 0, 63]


def tiny():
    """The model, with the vocabulary of the tokenizer below (300), so that
    the generate example runs on the folder as on a real checkpoint."""
    torch.manual_seed(0)
    config = MambaConfig(
        vocab_size=300,
        hidden_size=32,
        state_size=8,
        num_hidden_layers=2,
        expand=2,
        conv_kernel=4,
        time_step_rank="auto",
        use_bias=False,
        use_conv_bias=True,
        tie_word_embeddings=True,
        layer_norm_epsilon=1e-5,
    )
    model = MambaForCausalLM(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(HERE / "tiny", safe_serialization=True)
    # The same weights sharded (an index and two files), and in F16 and BF16.
    model.save_pretrained(HERE / "tiny-sharded", safe_serialization=True, max_shard_size="40KB")
    state = {k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    for dtype, name in [(torch.float16, "f16"), (torch.bfloat16, "bf16")]:
        save_file({k: v.to(dtype) for k, v in state.items()}, HERE / f"tiny-{name}.safetensors")
    ids = torch.tensor([PROMPT])
    with torch.no_grad():
        logits = model(ids).logits[0]
        greedy = model.generate(ids, max_new_tokens=10, do_sample=False)[0, len(PROMPT):]
    (HERE / "tiny.json").write_text(
        json.dumps(
            {
                "prompt": PROMPT,
                "logits": [[float(v) for v in row] for row in logits],
                "greedy": [int(t) for t in greedy],
            }
        )
        + "\n"
    )
    print(f"tiny: {sum(p.numel() for p in model.parameters())} parameters")


def reverse():
    folder = HERE / "from_crate"
    if not (folder / "expected.json").is_file():
        print("from_crate/ not written yet: skipping the reverse check")
        return
    expected = json.loads((folder / "expected.json").read_text())
    model = MambaForCausalLM.from_pretrained(folder, torch_dtype=torch.float64).eval()
    with torch.no_grad():
        logits = model(torch.tensor([expected["prompt"]])).logits[0]
    want = torch.tensor(expected["logits"], dtype=torch.float64)
    err = (logits - want).abs().max().item()
    print(f"from_crate: transformers' logits differ from the crate's by {err:.2e}")
    # transformers keeps the residual stream in float32 (`residual_in_fp32`)
    # even in a float64 model, so its logits carry float32 rounding (~1e-7).
    assert err < 1e-5, err


def tokenizer():
    """A tiny byte-level BPE tokenizer of the GPT-NeoX kind (the pre-tokenizer
    and decoder of `EleutherAI/gpt-neox-20b`'s tokenizer.json), trained on a
    few sentences, with the ids it gives for a text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    corpus = [
        "The state space model keeps a state of fixed size.",
        "Selection lets the step size depend on the input.",
        "The scan is also a masked attention matrix.",
    ]
    tok.train_from_iterator(corpus * 20, trainer)
    tok.save(str(HERE / "tokenizer.json"))
    tok.save(str(HERE / "tiny" / "tokenizer.json"))
    text = "The state of a selective scan: Δ, ĥ and 42 tokens."
    ids = tok.encode(text).ids
    assert tok.decode(ids) == text
    (HERE / "tokenizer-expected.json").write_text(json.dumps({"text": text, "ids": ids}) + "\n")


if __name__ == "__main__":
    tiny()
    tokenizer()
    reverse()
