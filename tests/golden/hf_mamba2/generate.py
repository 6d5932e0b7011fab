"""Golden values for loading Hugging Face Mamba-2 checkpoints: a tiny random
`Mamba2ForCausalLM` built with `transformers` (its pure-PyTorch
`torch_forward`, on CPU), saved with `save_pretrained` into `tiny/`, and
`tiny.json`: a prompt, the logits at every position, and the greedy
continuation. Two groups of heads, so the gated norm's groups matter; the
parameters are perturbed from the initialisation so that every tensor does.
The saved `config.json` contains a bare `Infinity` (`time_step_limit`).

Run from the repository root: python3 tests/golden/hf_mamba2/generate.py
"""
import json
import pathlib

import torch
from transformers import Mamba2Config, Mamba2ForCausalLM

HERE = pathlib.Path(__file__).parent
PROMPT = [3, 17, 42, 5, 60, 8, 8, 21, 33, 1, 0, 63, 9, 9, 40, 2, 11, 50, 7, 30]


def tiny():
    torch.manual_seed(0)
    config = Mamba2Config(
        vocab_size=64,
        hidden_size=32,
        state_size=8,
        num_hidden_layers=2,
        expand=2,
        head_dim=8,
        num_heads=8,
        n_groups=2,
        conv_kernel=4,
        chunk_size=8,
        use_bias=False,
        use_conv_bias=True,
        tie_word_embeddings=True,
        layer_norm_epsilon=1e-5,
    )
    model = Mamba2ForCausalLM(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(HERE / "tiny", safe_serialization=True)
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


if __name__ == "__main__":
    tiny()
