"""PyTorch CPU f32 decode tokens/s of SmolLM2-135M-Instruct, for comparison
with xpucert's reference backend on the same model, prompt and decode length.

transformers dequantizes the same GGUF file to f32 (and undoes the Q/K
permutation itself). Greedy decoding with a KV cache, batch 1; the prefill
is not timed; the 15 single-token steps after it are, as in the model
suite (decode tokens/s = 1 / median step time). Prints one JSON object.
Usage: python bench_torch_smollm2.py GGUF_PATH THREADS
"""
import json, os, statistics, sys, time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
from transformers import AutoModelForCausalLM

gguf = os.path.abspath(sys.argv[1])
threads = int(sys.argv[2])
torch.set_num_threads(threads)
PROMPT = [504, 3575, 282, 4649, 314]  # "The capital of France is" (suites/models/smollm2.yaml)
DECODE = 16
model = AutoModelForCausalLM.from_pretrained(
    os.path.dirname(gguf), gguf_file=os.path.basename(gguf), dtype=torch.float32
).eval()


def run():
    steps = []
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([PROMPT]), use_cache=True)
        past, tok = out.past_key_values, int(out.logits[0, -1].argmax())
        tokens = [tok]
        for _ in range(DECODE - 1):
            t0 = time.perf_counter()
            out = model(input_ids=torch.tensor([[tok]]), past_key_values=past, use_cache=True)
            steps.append(time.perf_counter() - t0)
            past, tok = out.past_key_values, int(out.logits[0, -1].argmax())
            tokens.append(tok)
    return steps, tokens


run()  # warm-up
steps, tokens = run()
print(json.dumps({
    "torch": torch.__version__,
    "threads": torch.get_num_threads(),
    "decode_tokens_per_s": 1.0 / statistics.median(steps),
    "tokens": tokens,
}))
