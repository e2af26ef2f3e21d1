# tiktoken (Python, Rust core) on the `data` bench suite's corpus, for the rows beside the native BPE.
# Reads a JSON request on stdin: {"corpus": path, "ranks": path of "base64 rank" lines, "pat_str": str,
# "threads": [1, N], "repeats": n}; prints {"tiktoken": version, "results": [{threads, median_ms, ids}]},
# or {"error": ...} where tiktoken is not installed. The encoding is built from the given ranks, so nothing
# is downloaded (GPU hosts reach no network).
import base64
import json
import sys
import time


def main():
    req = json.load(sys.stdin)
    try:
        import tiktoken
    except ImportError as e:
        print(json.dumps({'error': f'no tiktoken ({e})'}))
        return
    ranks = {}
    with open(req['ranks'], 'rb') as f:
        for line in f:
            tok, rank = line.split()
            ranks[base64.b64decode(tok)] = int(rank)
    enc = tiktoken.Encoding('gpt2-bench', pat_str=req['pat_str'], mergeable_ranks=ranks, special_tokens={'<|endoftext|>': 50256})
    with open(req['corpus'], encoding='utf-8', newline='') as f:
        text = f.read()
    results = []
    for threads in req['threads']:
        if threads == 1:
            run = lambda: enc.encode_ordinary(text)
        else:
            # whole lines, about 8 pieces per thread (newline-separated text splits where GPT-2's pattern does)
            lines = text.split('\n\n')
            per = max(1, len(lines) // (8 * threads))
            pieces = ['\n\n'.join(lines[i:i + per]) + ('\n\n' if i + per < len(lines) else '') for i in range(0, len(lines), per)]
            run = lambda: [i for p in enc.encode_ordinary_batch(pieces, num_threads=threads) for i in p]
        n = len(run())
        ms = []
        for _ in range(req['repeats']):
            t = time.perf_counter()
            run()
            ms.append((time.perf_counter() - t) * 1e3)
        ms.sort()
        results.append({'threads': threads, 'median_ms': ms[len(ms) // 2], 'ids': n})
    print(json.dumps({'tiktoken': tiktoken.__version__, 'results': results}))


main()
